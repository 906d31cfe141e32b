#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 --heap-growing-percent=20
// The flags above bound V8's heap for a long-running daemon: its live heap is ~15-20 MB, but by
// default the young generation grows to 32 MB and the old one to ~40 MB after a burst of traffic
// and keeps them (bench/README.md, section router: RSS at 256 streams ~150 MB -> ~100 MB).
// MALLOC_ARENA_MAX: see malloc-env.ts (it is not passed on to the processes the daemon starts).
// `env -S` (coreutils >= 8.30, the image's Debian) splits them; `node dist/src/main.js` runs without.
import { runCli } from './cli/run-cli.js';
import { dropDaemonMallocSetting } from './malloc-env.js';

dropDaemonMallocSetting(process.env);

const code = await runCli(process.argv.slice(2));
// Long-running commands (boot, check-and-run, logs -f) resolve only when they
// are done; an explicit exit stops stray handles from keeping PID 1 alive.
process.exitCode = code;
if (process.stdout.writableNeedDrain) {
  process.stdout.once('drain', () => process.exit(code));
} else {
  process.exit(code);
}
