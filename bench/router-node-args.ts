/**
 * The node flags the router process is benchmarked with: the daemon's own (the shebang of
 * dist/src/main.js, which the image runs), so the bench measures the heap sizing it really has,
 * then BENCH_ROUTER_NODE_ARGS. BENCH_ROUTER_DAEMON_FLAGS=0 leaves the daemon's flags out (V8's
 * defaults), for a before/after in one state.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function routerNodeArgs(repo: string): { args: string[]; daemonFlags: string[] } {
  const shebang = readFileSync(path.join(repo, 'dist/src/main.js'), 'utf8').split('\n', 1)[0]!;
  const daemonFlags = /^#!\/usr\/bin\/env -S node (.+)$/.exec(shebang)?.[1]!.split(' ').filter(Boolean) ?? [];
  const used = process.env.BENCH_ROUTER_DAEMON_FLAGS === '0' ? [] : daemonFlags;
  return { args: [...used, ...(process.env.BENCH_ROUTER_NODE_ARGS ?? '').split(' ').filter(Boolean)], daemonFlags: used };
}
