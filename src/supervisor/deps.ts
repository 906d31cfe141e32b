/**
 * Every side effect of the supervisor behind one injectable interface: tests
 * swap the clock, the probe, the file checks or spawn without touching the logic.
 */
// node:child_process, not execa, for the supervised servers: they run detached in their own process
// group (signalled as a group), under setpriv --pdeathsig, with their pipes read line by line for as
// long as they live; execa's promise-per-process, buffering and own kill timers fit none of that.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { checkInstanceFiles } from '../config/check-files.js';
import { findOnPath } from '../find-on-path.js';
import type { ConfigProblem } from '../config/problem.js';
import type { InstanceSpec } from '../config/types.js';
import { isPortFree } from './port-free.js';
import { runningGroupMembers } from './group-members.js';
import { httpProbe, type ProbeRequest, type ProbeResult } from './probe.js';

export interface SupervisorDeps {
  spawn(command: string, args: string[], options: SpawnOptions): ChildProcess;
  /** process.kill semantics: a negative pid signals the process group. */
  kill(pid: number, signal: NodeJS.Signals | 0): void;
  /** The clock: every wait of the supervisor goes through sleep, so tests can drive time. */
  now(): number;
  /** Resolves after ms, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
  probe(request: ProbeRequest): Promise<ProbeResult>;
  /** src/config/check-files.ts: missing model or executable (fail the start), unusable log file (warn). */
  checkFiles(spec: InstanceSpec): Promise<ConfigProblem[]>;
  portFree(host: string, port: number): Promise<boolean>;
  /** Running (non-zombie) members of a process group; null when unknown. */
  groupMembers(pgid: number): number | null;
  /**
   * Absolute path of util-linux `setpriv`, used as `setpriv --pdeathsig KILL -- exe args` so the
   * kernel kills each server when the supervisor dies, even by SIGKILL. null: spawn directly.
   */
  setpriv: string | null;
}

const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

export function findSetpriv(env: NodeJS.ProcessEnv = process.env): string | null {
  return SETPRIV_CANDIDATES.find(canExecute) ?? findOnPath('setpriv', env, canExecute) ?? null;
}

function canExecute(candidate: string): boolean {
  try {
    accessSync(candidate, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function defaultDeps(env: NodeJS.ProcessEnv = process.env): SupervisorDeps {
  return {
    spawn: nodeSpawn,
    kill: (pid, signal) => {
      process.kill(pid, signal);
    },
    now: () => Date.now(),
    sleep: delay,
    random: Math.random,
    probe: httpProbe,
    // PATH for a bare executable name is the children's PATH.
    checkFiles: (spec) => checkInstanceFiles(spec, { env }),
    portFree: isPortFree,
    groupMembers: runningGroupMembers,
    setpriv: findSetpriv(env),
  };
}

/** Resolves after ms, or rejects with the signal's reason when aborted. Uses the global timer so fake timers apply. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
