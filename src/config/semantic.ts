/** Checks across instances: what no single table can show. */
import type { DraftProblem } from './problem.js';
import type { InstanceSpec } from './types.js';

const WILDCARDS = new Set(['', '0.0.0.0', '::', '[::]']);

const normalHost = (s: InstanceSpec): string => s.host.trim().toLowerCase();

/**
 * Two enabled instances on one port of one host: the second would die at start
 * with "address already in use". A disabled instance may share a port on purpose
 * (an alternative started by hand), so it is not reported.
 */
export function checkPorts(specs: readonly InstanceSpec[], portPath: (name: string) => (string | number)[]): DraftProblem[] {
  const problems: DraftProblem[] = [];
  // Per port: the first instance, the first on a wildcard host, the first per host. One pass,
  // so tens of thousands of instances cost no more than reading them (a pairwise scan was quadratic).
  const byPort = new Map<number, { first: number; wildcard?: number; hosts: Map<string, number> }>();
  const enabled = specs.filter((s) => s.enabled);
  for (let i = 0; i < enabled.length; i++) {
    const b = enabled[i]!;
    const host = normalHost(b);
    const seen = byPort.get(b.port);
    if (!seen) {
      byPort.set(b.port, { first: i, ...(WILDCARDS.has(host) ? { wildcard: i } : {}), hosts: new Map([[host, i]]) });
      continue;
    }
    // the earliest earlier instance sameAddress() would match
    const clashAt = WILDCARDS.has(host) ? seen.first : Math.min(seen.hosts.get(host) ?? Infinity, seen.wildcard ?? Infinity);
    if (Number.isFinite(clashAt)) {
      const clash = enabled[clashAt]!;
      problems.push({
        path: portPath(b.name),
        kind: 'semantic',
        subject: 'setting',
        instance: b.name,
        message: `port ${b.port} on host ${b.host} is already used by instance "${clash.name}" (host ${clash.host}) (expected a port no other enabled instance listens on)`,
      });
    }
    if (!seen.hosts.has(host)) seen.hosts.set(host, i);
    if (WILDCARDS.has(host) && seen.wildcard === undefined) seen.wildcard = i;
  }
  return problems;
}
