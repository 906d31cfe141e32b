#!/usr/bin/env node
import { runCli } from './cli/run-cli.js';

const code = await runCli(process.argv.slice(2));
// Long-running commands (boot, check-and-run, logs -f) resolve only when they
// are done; an explicit exit stops stray handles from keeping PID 1 alive.
process.exitCode = code;
if (process.stdout.writableNeedDrain) {
  process.stdout.once('drain', () => process.exit(code));
} else {
  process.exit(code);
}
