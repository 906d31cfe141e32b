/**
 * Spawning a server as its own process group and taking the whole group
 * down. A llama-server that forks helpers (or a wrapper script) must not leave
 * anything behind that still holds the port or GPU memory.
 */
import type { ChildProcess } from 'node:child_process';
import { ALWAYS_REMOVED_ENV } from '../config/always-removed-env.js';
import type { InstanceSpec } from '../config/types.js';
import type { SupervisorDeps } from './deps.js';

/** The daemon's environment with the spec's on top; ALWAYS_REMOVED_ENV goes even from a spec built elsewhere. */
export function childEnv(base: NodeJS.ProcessEnv, spec: InstanceSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...spec.env };
  for (const name of [...ALWAYS_REMOVED_ENV, ...spec.envRemove]) delete env[name];
  return env;
}

export function spawnGroup(deps: SupervisorDeps, spec: InstanceSpec, env: NodeJS.ProcessEnv): ChildProcess {
  const [command, args] = deps.setpriv
    ? [deps.setpriv, ['--pdeathsig', 'KILL', '--', spec.executable, ...spec.args]]
    : [spec.executable, spec.args];
  return deps.spawn(command, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
    windowsHide: true,
  });
}

/** Signal every process of the group; false when the group no longer exists. */
export function signalGroup(deps: SupervisorDeps, pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    deps.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: the group is gone. EPERM: a member changed credentials; nothing more we can do from here.
    return false;
  }
}

const GROUP_POLL_MS = 20;

function groupRunning(deps: SupervisorDeps, pgid: number): boolean {
  if (!signalGroup(deps, pgid, 0)) return false;
  return deps.groupMembers(pgid) !== 0;
}

/**
 * Wait until no process of the group is left, SIGKILLing stragglers after graceMs.
 * Bounded: returns false when something survives even SIGKILL for killWaitMs more
 * (a process stuck in the kernel, e.g. in a GPU driver call).
 */
export async function waitGroupGone(
  deps: SupervisorDeps,
  pgid: number,
  graceMs: number,
  killWaitMs = 2_000,
  signal?: AbortSignal,
): Promise<boolean> {
  const pollUntil = async (deadline: number) => {
    while (groupRunning(deps, pgid)) {
      if (deps.now() >= deadline) return false;
      await deps.sleep(GROUP_POLL_MS, signal);
    }
    return true;
  };
  if (await pollUntil(deps.now() + graceMs)) return true;
  signalGroup(deps, pgid, 'SIGKILL');
  return pollUntil(deps.now() + killWaitMs);
}
