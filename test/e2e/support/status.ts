import type { InstanceStatus } from '../../../src/supervisor/types.js';
import { runCli } from './cli.js';
import { waitFor } from './processes.js';

/** `infer-entry status --json`, as a user (or a script) reads it. */
export async function readStatus(env: NodeJS.ProcessEnv): Promise<InstanceStatus[]> {
  const r = await runCli(['status', '--json'], env, 20_000);
  if (r.code !== 0) throw new Error(`status --json exited ${r.code}: ${r.stderr.trim().slice(-500)}`);
  const parsed = JSON.parse(r.stdout) as InstanceStatus[] | { instances: InstanceStatus[] };
  return Array.isArray(parsed) ? parsed : parsed.instances;
}

export function byName(list: InstanceStatus[], name: string): InstanceStatus {
  const found = list.find((i) => i.name === name);
  if (!found) throw new Error(`instance ${name} not in status: ${list.map((i) => i.name).join(', ')}`);
  return found;
}

/** Waits until every named instance is `ready` with a pid; returns the last status. */
export async function waitReady(env: NodeJS.ProcessEnv, names: string[], timeoutMs = 90_000): Promise<InstanceStatus[]> {
  return waitFor(
    `${names.join(', ')} to be ready`,
    async () => {
      const list = await readStatus(env);
      return names.every((n) => list.find((i) => i.name === n)?.state === 'ready' && list.find((i) => i.name === n)?.pid) ? list : undefined;
    },
    timeoutMs,
    300,
  );
}
