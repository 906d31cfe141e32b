/** The smoke test: a llama-server that cannot start is refused, quoting what it printed, and nothing is activated. */
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InferEntryError } from '../../src/errors.js';
import { installPackage } from '../../src/installer/index.js';
import { silentLogger } from '../../src/log.js';
import { layoutEntries, serverFiles, writeArchive, type Entry } from '../fixtures/installer/archive-builder.js';
import { snapshot } from '../fixtures/installer/tree-snapshot.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

const run = promisify(execFile);
let t: TempRoot;
let before: Record<string, string>;
beforeEach(async () => {
  t = await tempRoot();
  await installPackage({ pkgPath: await writeArchive(path.join(t.dir, 'good.tar'), 'tar', layoutEntries('documented')), paths: t.paths, log: silentLogger(), env: t.env });
  before = await snapshot(t.paths.releases);
});
afterEach(async () => {
  await t.cleanup();
});

async function refused(entries: Entry[], timeoutMs?: number): Promise<InferEntryError> {
  const pkg = await writeArchive(path.join(t.dir, 'bad.tar.gz'), 'tar.gz', entries);
  const error = (await installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env, smokeTimeoutMs: timeoutMs }).catch((e: unknown) => e)) as InferEntryError;
  expect(error).toBeInstanceOf(InferEntryError);
  expect(error.code).toBe('E_PKG_SMOKE_TEST');
  expect(error.exitCode).toBe(65);
  expect(await snapshot(t.paths.releases)).toEqual(before);
  return error;
}

describe('smoke test: bin/llama-server --version must succeed before activation', () => {
  it('refuses a llama-server that exits non-zero, quoting its output', async () => {
    const e = await refused(layoutEntries('documented', serverFiles({ version: 'broken-build', exitCode: 3 })));
    expect(e.message).toContain('exited with status 3');
    expect(e.message).toContain('broken-build');
  });

  it('refuses a package that lacks a library (fake server failing like the loader)', async () => {
    const files = serverFiles().filter((f) => f.path !== 'libllama.so.0' && f.path !== 'libllama.so');
    const e = await refused(layoutEntries('documented', files));
    expect(e.message).toContain('error while loading shared libraries: libllama.so.0');
  });

  it('refuses a llama-server that hangs, after the timeout', async () => {
    const hang: Entry = { type: 'file', path: 'bin/llama-server', content: '#!/bin/sh\nexec sleep 30\n', mode: 0o755 };
    const e = await refused([{ type: 'dir', path: 'bin' }, hang], 500);
    expect(e.message).toContain('did not finish within 500 ms');
  });

  it('refuses a llama-server that cannot be started (its interpreter is missing)', async () => {
    const e = await refused([{ type: 'dir', path: 'bin' }, { type: 'file', path: 'bin/llama-server', content: '#!/no/such/interpreter\n', mode: 0o755 }]);
    expect(e.message).toMatch(/could not be started \(.*ENOENT/);
  });

  it('refuses a llama-server killed by a signal, naming it', async () => {
    const e = await refused([{ type: 'dir', path: 'bin' }, { type: 'file', path: 'bin/llama-server', content: '#!/bin/sh\necho crashing >&2\nkill -SEGV $$\n', mode: 0o755 }]);
    expect(e.message).toContain('was killed by SIGSEGV');
    expect(e.message).toContain('crashing');
  });

  it('answers when llama-server exits, even if a process it left behind keeps its output open', async () => {
    const left = path.join(t.dir, 'left-behind.pid');
    const leaves: Entry = { type: 'file', path: 'bin/llama-server', content: `#!/bin/sh\necho half-started >&2\nsleep 30 &\necho $! > '${left}'\nexit 4\n`, mode: 0o755 };
    const e = await refused([{ type: 'dir', path: 'bin' }, leaves], 20_000);
    process.kill(Number(await readFile(left, 'utf8')));
    expect(e.message).toContain('exited with status 4');
    expect(e.message).toContain('half-started');
  });

  it('a cancelled install stops a llama-server that hangs and changes nothing', async () => {
    const started = path.join(t.dir, 'smoke-started');
    const hang: Entry = { type: 'file', path: 'bin/llama-server', content: `#!/bin/sh\ntouch '${started}'\nexec sleep 30\n`, mode: 0o755 };
    const pkg = await writeArchive(path.join(t.dir, 'hangs.tar.gz'), 'tar.gz', [{ type: 'dir', path: 'bin' }, hang]);
    const cancel = new AbortController();
    const install = installPackage({ pkgPath: pkg, paths: t.paths, log: silentLogger(), env: t.env, signal: cancel.signal, smokeTimeoutMs: 20_000 });
    install.catch(() => undefined);
    // the smoke test is running: cancel it well before its own timeout
    while (!(await access(started).then(() => true, () => false))) await new Promise((resolve) => setTimeout(resolve, 20));
    cancel.abort();
    await expect(install).rejects.toMatchObject({ name: 'AbortError' });
    expect(await snapshot(t.paths.releases)).toEqual(before);
  });

  it('refuses a real ELF llama-server whose shared library is missing (built with cc)', async () => {
    const cc = await run('cc', ['--version']).catch(() => null);
    expect(cc, 'this test needs a C compiler: install the Debian package gcc (or build-essential)').not.toBeNull();
    const build = path.join(t.dir, 'elf');
    await mkdir(build);
    await writeFile(path.join(build, 'foo.c'), 'int foo(void) { return 42; }\n');
    await writeFile(path.join(build, 'main.c'), '#include <stdio.h>\nint foo(void);\nint main(void) { fprintf(stderr, "version: %d\\n", foo()); return 0; }\n');
    await run('cc', ['-shared', '-fPIC', '-o', path.join(build, 'libfoo.so'), path.join(build, 'foo.c')]);
    await run('cc', ['-o', path.join(build, 'llama-server'), path.join(build, 'main.c'), `-L${build}`, '-lfoo']);
    const server = await readFile(path.join(build, 'llama-server'));
    const lib = await readFile(path.join(build, 'libfoo.so'));

    // with the library beside it, the loader finds it through LD_LIBRARY_PATH=bin/: installed
    const ok = await writeArchive(path.join(t.dir, 'elf-ok.tar.gz'), 'tar.gz', [
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/llama-server', content: server, mode: 0o755 },
      { type: 'file', path: 'bin/libfoo.so', content: lib, mode: 0o644 },
    ]);
    expect((await installPackage({ pkgPath: ok, paths: t.paths, log: silentLogger(), env: t.env })).status).toBe('installed');
    before = await snapshot(t.paths.releases);

    const e = await refused([{ type: 'dir', path: 'bin' }, { type: 'file', path: 'bin/llama-server', content: server, mode: 0o755 }]);
    expect(e.message).toMatch(/libfoo\.so: cannot open shared object file/);
  });
});
