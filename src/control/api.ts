/**
 * The wire contract between the daemon's control socket and its clients:
 * routes, JSON bodies, and how an InferEntryError crosses the socket so the CLI
 * exits with the same code and prints the same hint as if it had failed
 * locally. Shared by both sides (src/control/ serves it, src/client/ calls it),
 * so it holds no I/O and nothing heavy to import.
 */
import { ConfigInvalidError, problemFromJson, problemJson, type ConfigProblem, type ProblemJson } from '../config/problem.js';
import { ExitCode, InferEntryError } from '../errors.js';
import type { InstanceStatus, ReloadResult } from '../supervisor/types.js';

export type { ReloadRequest, WaitRequest } from './request-bodies.js';

export const ROUTES = {
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  instances: '/v1/instances',
  reload: '/v1/reload',
  wait: '/v1/wait',
} as const;

/** Routes the optional TCP status listener serves; everything else is socket-only. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([ROUTES.healthz, ROUTES.readyz, ROUTES.metrics]);

/** Lines `GET /v1/instances/NAME/logs` returns when the request names no `n`. */
export const DEFAULT_LOG_LINES = 100;

export const INSTANCE_ACTIONS = ['start', 'stop', 'restart'] as const;
export type InstanceAction = (typeof INSTANCE_ACTIONS)[number];

export interface ErrorBody {
  error: {
    code: string;
    exitCode: number;
    message: string;
    hint?: string;
    /** E_CONFIG_INVALID: the file that was read and every problem of it, as `validate --json` prints them. */
    file?: string;
    problems?: ProblemJson[];
  };
}

export interface HealthBody {
  ok: true;
  pid: number;
  version: string;
  config: string | null;
}

export interface ReadyBody {
  ready: boolean;
  /** Set while boot is still installing / loading the config: not ready yet, whatever the instances say. */
  starting?: string;
  /** Enabled instances that are not ready, with their state. */
  notReady: { name: string; state: string }[];
}

export interface InstancesBody {
  instances: InstanceStatus[];
}

export interface ReloadBody {
  file: string;
  result: ReloadResult;
}

export function errorBody(error: InferEntryError): ErrorBody {
  return {
    error: {
      code: error.code,
      exitCode: error.exitCode,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
      ...(error instanceof ConfigInvalidError ? { file: error.file, problems: error.problems.map(problemJson) } : {}),
    },
  };
}

/** The HTTP status an error answer carries (the CLI uses the body, curl users the status). */
export function httpStatusFor(error: InferEntryError): number {
  if (error.code === 'E_UNKNOWN_INSTANCE' || error.code === 'E_NO_ROUTE') return 404;
  switch (error.exitCode) {
    case ExitCode.USAGE:
      return 400;
    case ExitCode.CONFIG:
    case ExitCode.DATA:
      return 422;
    case ExitCode.NO_INPUT:
      return 404;
    case ExitCode.TEMP_FAIL:
      return 409;
    case ExitCode.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

/** Rebuild the daemon's error on the client side; a config error keeps its typed problems. */
export function errorFromBody(body: ErrorBody): InferEntryError {
  const { code, exitCode, message, hint, file, problems } = body.error;
  const options = hint ? { hint } : {};
  if (code === 'E_CONFIG_INVALID' && typeof file === 'string' && Array.isArray(problems)) {
    const typed = problems.map(problemFromJson).filter((p): p is ConfigProblem => p !== undefined);
    return new ConfigInvalidError(file, message, typed, options);
  }
  const known = Object.values(ExitCode) as number[];
  return new InferEntryError(code, (known.includes(exitCode) ? exitCode : ExitCode.FAILURE) as ExitCode, message, options);
}

export function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    'error' in value &&
    typeof (value as ErrorBody).error === 'object' &&
    typeof (value as ErrorBody).error?.code === 'string'
  );
}
