/**
 * How the router process is benchmarked: with the daemon's own node flags and environment (the
 * shebang of dist/src/main.js, `#!/usr/bin/env -S [NAME=VALUE ...] node FLAGS`, which the image
 * runs), so the bench measures the heap sizing and malloc settings it really has, then
 * BENCH_ROUTER_NODE_ARGS. BENCH_ROUTER_DAEMON_FLAGS=0 leaves the daemon's flags and variables out
 * (V8's and glibc's defaults), for a before/after in one state.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function routerNodeArgs(repo: string): { args: string[]; daemonFlags: string[]; env: Record<string, string> } {
  const shebang = readFileSync(path.join(repo, 'dist/src/main.js'), 'utf8').split('\n', 1)[0]!;
  const words = /^#!\/usr\/bin\/env -S (.+)$/.exec(shebang)?.[1]!.split(' ').filter(Boolean) ?? [];
  const node = words.indexOf('node');
  const env = Object.fromEntries(words.slice(0, Math.max(node, 0)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const daemon = process.env.BENCH_ROUTER_DAEMON_FLAGS !== '0';
  const daemonFlags = daemon && node >= 0 ? words.slice(node + 1) : [];
  return {
    args: [...daemonFlags, ...(process.env.BENCH_ROUTER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    daemonFlags,
    env: daemon ? env : {},
  };
}
