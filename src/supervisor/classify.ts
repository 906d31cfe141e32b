/**
 * Failure classification of a start or exit, from the exit status and the
 * last output lines. Patterns follow llama-server's and ggml's own messages
 * (common/arg.cpp, tools/server/server.cpp, ggml-cuda) and the dynamic loader's.
 */
import type { ConfigProblem } from '../config/problem.js';
import { exitStatusForSignal } from './exit-status.js';
import type { FailureClass } from './types.js';

interface Rule {
  class: FailureClass;
  patterns: RegExp[];
}

// First match wins, so the more specific class comes first: a missing library or a bad flag stops the
// process before anything else can be printed, and an out-of-memory load also prints "failed to load
// model", so out-of-memory comes before model-load-failed.
const RULES: Rule[] = [
  {
    class: 'missing-library',
    patterns: [/error while loading shared libraries/i, /cannot open shared object file/i, /failed to execute .*: no such file/i],
  },
  {
    class: 'bad-argument',
    patterns: [/error: invalid argument/i, /unknown argument/i, /error while handling argument/i, /error: unknown value for/i, /invalid value for /i],
  },
  {
    class: 'port-in-use',
    patterns: [/couldn'?t bind http server socket/i, /address already in use/i, /EADDRINUSE/],
  },
  {
    class: 'out-of-memory',
    patterns: [
      /out of memory/i,
      /cudaMalloc failed/i,
      /unable to allocate .* buffer/i,
      /failed to allocate .*buffer/i,
      /std::bad_alloc/,
      /cannot allocate memory/i,
    ],
  },
  {
    class: 'model-load-failed',
    patterns: [
      /failed to load model/i,
      /error loading model/i,
      /unable to load model/i,
      /llama_model_load: error/i,
      /gguf_init_from_file.*failed/i,
      /failed to open gguf/i,
      /invalid magic/i,
    ],
  },
];

/** Classes a restart cannot fix: the instance goes to `failed` after at most a couple of tries. */
export const NON_FIXABLE: ReadonlySet<FailureClass> = new Set<FailureClass>(['bad-argument', 'port-in-use', 'missing-library', 'model-load-failed']);

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/**
 * Status 0, or ended by SIGTERM: llama-server installs its SIGTERM handler only after the model
 * loaded, so during loading SIGTERM kills it by default (status 143). Both are a clean stop.
 */
export function isCleanExit(status: ExitStatus): boolean {
  return status.code === 0 || status.code === exitStatusForSignal('SIGTERM') || status.signal === 'SIGTERM';
}

/**
 * Returns null for a clean exit (see isCleanExit).
 * Exit 126/127 without a recognisable message means the executable itself could not be run.
 */
export function classifyExit(status: ExitStatus, lastLines: readonly string[]): FailureClass | null {
  // A clean stop is no failure whatever was printed before it (a request that once ran out of
  // memory, then a normal SIGTERM, must not be reported as out-of-memory).
  if (isCleanExit(status)) return null;
  const text = lastLines.join('\n');
  for (const rule of RULES) {
    if (rule.patterns.some((pattern) => pattern.test(text))) return rule.class;
  }
  if (status.signal !== null) return 'killed';
  if (status.code === 126 || status.code === 127) return 'missing-library';
  return 'crashed';
}

/** A process that could not even be spawned (no such file, not executable). */
export const SPAWN_FAILED_CLASS: FailureClass = 'missing-library';

/**
 * The class of a start refused before spawning (unusable files): an executable that cannot run is
 * the same failure as a missing library; anything else the checks find is about the model.
 */
export function classifyPrecheck(problems: readonly ConfigProblem[]): FailureClass {
  return problems.some((p) => p.subject === 'executable') ? 'missing-library' : 'model-load-failed';
}
