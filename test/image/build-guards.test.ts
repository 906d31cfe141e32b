/**
 * The build stage's guards, on the real Dockerfile: an `.npmrc` build secret reaches the npm step,
 * and an npm install that exits 0 without installing anything (what "Exit handler never called!"
 * leaves) fails the build at that step, not one step later with "tsc: not found".
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BASE_IMAGE, NODE_IMAGE } from './setup/build-image.js';
import { REPO, imageEngine } from './support/container.js';
import { CommandError, type Engine } from './support/engine.js';

describe('the build stage of dockers/infer-dev/Dockerfile', () => {
  let e: Engine;
  let dir: string;

  beforeAll(async () => {
    e = imageEngine();
    dir = await mkdtemp(join(inject('image').tmp, 'guards-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an npm install that exits 0 but installs nothing fails the build at the install step', async () => {
    // dry-run: npm resolves, prints, exits 0 and writes no node_modules — a silent failure to install.
    const npmrc = join(dir, 'npmrc');
    await writeFile(npmrc, 'dry-run=true\n');
    const args = ['build', '--no-cache', '--format', 'docker', '--target', 'build', '-f', 'dockers/infer-dev/Dockerfile', '--ignorefile', 'dockers/infer-dev/Dockerfile.dockerignore'];
    if (process.env.NODE_EXTRA_CA_CERTS) args.push('--secret', `id=ca,src=${process.env.NODE_EXTRA_CA_CERTS}`);
    args.push('--secret', `id=npmrc,src=${npmrc}`, '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`, '--build-arg', `NODE_IMAGE=${NODE_IMAGE}`, '-t', 'localhost/infer-dev:guard-check', '.');
    const failure = await e.buildah(args, { cwd: REPO, timeoutMs: 600_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(CommandError);
    const output = (failure as CommandError).stdout + (failure as CommandError).stderr;
    expect(output).toMatch(/STEP 4\/8: RUN [^\n]*npm install/);
    expect(output).not.toMatch(/STEP 5\/8/);
    expect(output).toMatch(/missing: /);
    expect(output).not.toContain('tsc: not found');
  });
});
