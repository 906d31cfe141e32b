/**
 * The daemon runs with the MALLOC_ARENA_MAX its shebang sets (src/malloc-env.ts) and passes it on
 * to nothing it starts: started the way the image starts it (the executable main.js, through
 * `env -S`), its instances and its CMD see glibc's default unless an instance's env table sets it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { baseEnv, cleanUpRoot, freePort, MAIN, makeRoot, type Running, startProcess, waitFor, writeConfig } from '../unit/control/harness.js';

let root: string;
let running: Running[] = [];

beforeEach(async () => {
  root = await makeRoot('ie-malloc-env-');
});
afterEach(async () => {
  await cleanUpRoot(root, running);
  running = [];
});

describe('MALLOC_ARENA_MAX from the shebang', () => {
  it("is the daemon's own: instances and the CMD do not inherit it, an instance's env table still sets it", async () => {
    const file = await writeConfig(root, [
      { name: 'plain', port: await freePort() },
      { name: 'tuned', port: await freePort() },
    ]);
    await fs.appendFile(file, '\n[instance.tuned.env]\nMALLOC_ARENA_MAX = "4"\n');
    const env = baseEnv(root, {
      // `env -S node` finds this node, as the image's finds its own.
      PATH: [path.dirname(process.execPath), process.env.PATH].join(path.delimiter),
      AUTO_INFER_LLAMA_CPP_ON_BOOT: '1',
      AUTO_INFER_LLAMA_CPP_CONFIG: file,
      FAKE_PRINT_ENV: 'MALLOC_ARENA_MAX',
    });
    const daemon = startProcess(MAIN, ['boot', '--', 'sh', '-c', 'echo "cmd sees MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-<unset>}"; exec sleep 60'], env);
    running.push(daemon);
    await waitFor('both instances ready', () => daemon.output().split('"to":"ready"').length === 3, 20_000);

    const own = (await fs.readFile(`/proc/${daemon.child.pid}/environ`, 'utf8')).split('\0');
    expect(own).toContain('MALLOC_ARENA_MAX=2');
    const printed = daemon.logs().filter((l) => String(l.msg).startsWith('env MALLOC_ARENA_MAX='));
    expect(printed.map((l) => [l.instance, l.msg]).sort()).toEqual([
      ['plain', 'env MALLOC_ARENA_MAX=<unset>'],
      ['tuned', 'env MALLOC_ARENA_MAX=4'],
    ]);
    expect(daemon.output()).toContain('cmd sees MALLOC_ARENA_MAX=<unset>');
  });
});
