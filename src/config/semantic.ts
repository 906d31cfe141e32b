/** Checks across instances: what no single table can show. */
import type { DraftProblem } from './problem.js';
import type { InstanceSpec } from './types.js';

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);

function sameAddress(a: InstanceSpec, b: InstanceSpec): boolean {
  if (a.port !== b.port) return false;
  const ha = a.host.trim().toLowerCase();
  const hb = b.host.trim().toLowerCase();
  return ha === hb || WILDCARDS.has(ha) || WILDCARDS.has(hb);
}

/**
 * Two enabled instances on one port of one host: the second would die at start
 * with "address already in use". A disabled instance may share a port on purpose
 * (an alternative started by hand), so it is not reported.
 */
export function checkPorts(specs: readonly InstanceSpec[], portPath: (name: string) => (string | number)[]): DraftProblem[] {
  const problems: DraftProblem[] = [];
  const enabled = specs.filter((s) => s.enabled);
  for (let i = 0; i < enabled.length; i++) {
    const b = enabled[i]!;
    const clash = enabled.slice(0, i).find((a) => sameAddress(a, b));
    if (clash) {
      problems.push({
        path: portPath(b.name),
        kind: 'semantic',
        subject: 'setting',
        instance: b.name,
        message: `port ${b.port} on host ${b.host} is already used by instance "${clash.name}" (host ${clash.host}) (expected a port no other enabled instance listens on)`,
      });
    }
  }
  return problems;
}
