/**
 * Habits of the shell-based image, in the image's own layout (rehearsal-image.ts lays out the
 * Dockerfile's runtime stage in a temp dir; nothing of the repository is used in place):
 * `--entrypoint /entrypoint.sh IMAGE CMD`, and `/soft/app/llama-cpp/check-and-run-llama-cpp.sh`
 * in a container that never installed anything. System tier: the image's ENTRYPOINT runs tini.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layOutImage, mapper, run } from './rehearsal-image.js';
import { DOCKERFILE, REPO, SHIMS_DIR, dockerfileEnv, dockerfileInstructions, execForm, need, only, read, runtimeStage } from './support.js';

const runtime = runtimeStage(dockerfileInstructions(read(DOCKERFILE)));

describe('old habits against the image layout', () => {
  let fsRoot: string;
  let map: (text: string) => string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    if (!existsSync(path.join(REPO, 'dist/src/main.js'))) throw new Error("dist/src/main.js is missing: run 'npm run build' first");
    fsRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'ie-old-habits-'));
    map = mapper(fsRoot);
    await layOutImage(fsRoot, runtime);
    env = {
      PATH: `${map('/usr/local/bin')}:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: fsRoot,
      ...Object.fromEntries(Object.entries(dockerfileEnv(runtime)).map(([k, v]) => [k, map(v)])),
      INFER_ENTRY_LOG_FORMAT: 'json',
    };
  }, 60_000);

  afterAll(async () => {
    await fs.rm(fsRoot, { recursive: true, force: true });
  });

  it('`--entrypoint /entrypoint.sh IMAGE CMD` boots infer-entry and exits with the CMD status', async () => {
    const { code, output } = await run([map('/entrypoint.sh'), 'sh', '-c', 'echo "cmd ran"; exit 7'], env);
    expect(code, output).toBe(7);
    expect(output).toContain('cmd ran');
    // it really went through `infer-entry boot`, not straight to the command
    expect(output).toMatch(/"step":"boot".*"msg":"command started"/);
  });

  it('/soft/app/llama-cpp/check-and-run-llama-cpp.sh works in a container that installed nothing, through the image shim', async () => {
    need('tini', 'tini');
    const argv = [...execForm(only(runtime, 'ENTRYPOINT').args), map('/soft/app/llama-cpp/check-and-run-llama-cpp.sh')];
    const { code, output } = await run(argv.map(map), env);
    // no config named: the old script's note and exit 0, as the image README documents
    expect(code, output).toBe(0);
    expect(output).toContain('AUTO_INFER_LLAMA_CPP_CONFIG is not set; nothing to start');
    // the link leads to the shim the image ships, untouched
    const shim = map('/soft/app/shims/check-and-run-llama-cpp.sh');
    expect(await fs.realpath(map('/soft/app/llama-cpp/check-and-run-llama-cpp.sh'))).toBe(await fs.realpath(shim));
    expect(await fs.readFile(shim, 'utf8')).toBe(read(path.join(SHIMS_DIR, 'check-and-run-llama-cpp.sh')));
    for (const link of ['install-llama-cpp-pkg.sh', 'get-llama-cpp-pkg.sh']) expect(existsSync(map(`/soft/app/llama-cpp/${link}`)), link).toBe(true);
  });
});
