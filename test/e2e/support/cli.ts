import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isAlive, killQuietly, sleep } from './processes.js';

/** The repository root: found upwards, so this file also works compiled into dist/ (bench/e2e.ts). */
export const REPO = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir);
  return dir;
})();
/** The built CLI, as users run it (`npm run test:e2e` builds it first). */
export const CLI = join(REPO, 'dist', 'src', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment of a user's shell: only what they set, plus PATH/HOME; JSON logs for assertions. */
export function userEnv(root: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    INFER_ENTRY_ROOT: root,
    INFER_ENTRY_LOG_FORMAT: 'json',
    ...extra,
  };
}

/** Runs one CLI command to completion (bounded: killed after timeoutMs). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** A long-running CLI process (boot, check-and-run in the foreground) with its output in a file. */
export interface Daemon {
  child: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDaemon(args: string[], env: NodeJS.ProcessEnv, logFile: string, command: string[] = [process.execPath, CLI]): Daemon {
  // Output to a file, not a pipe: a test that stops reading must never block the daemon.
  const fd = openSync(logFile, 'a');
  const [exe, ...pre] = command;
  const child = spawn(exe!, [...pre, ...args], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${command.join(' ')} ${args.join(' ')}`);
  return {
    child,
    pid,
    logFile,
    exited,
    output: () => readFileSync(logFile, 'utf8'),
    async stop(graceMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        killQuietly(pid, 'SIGTERM');
        const timedOut = Symbol('timeout');
        const r = await Promise.race([exited, sleep(graceMs).then(() => timedOut)]);
        if (r === timedOut && isAlive(pid)) killQuietly(pid, 'SIGKILL');
      }
      return exited;
    },
  };
}

/** Parsed JSON log lines of a daemon (non-JSON lines skipped). */
export function logEvents(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial last line
    }
  }
  return out;
}
