import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import * as tar from 'tar';

import { runProcess } from '../support/run-process.js';
import { checkBuildTools } from './build-tools.js';

/** The npm package whose tarball carries a git bundle of a llama.cpp release (no other network needed). */
export const NODE_LLAMA_CPP = 'node-llama-cpp@3.22.1';
export const VOCAB_FILE = 'ggml-vocab-llama-spm.gguf';

export interface LlamaServerBuild {
  /** llama.cpp source commit the build came from; keys every cached artefact. */
  commit: string;
  /** Upstream release tag, e.g. `b6123`, used for the upstream archive layout. */
  release: string;
  /** `<cache>/llama-server-<commit>`: bin/ (server + .so), models/ (vocab). */
  dir: string;
  binDir: string;
  vocabPath: string;
}

type Log = (line: string) => void;

const CMAKE_FLAGS = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=ON',
  '-DLLAMA_CURL=OFF',
  '-DLLAMA_OPENSSL=OFF',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
  '-DLLAMA_BUILD_UI=OFF',
  '-DLLAMA_USE_PREBUILT_UI=OFF',
  '-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON',
  // $ORIGIN makes the binary find its .so next to itself, like upstream release builds.
  '-DCMAKE_INSTALL_RPATH=$ORIGIN',
];

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.INFER_ENTRY_E2E_CACHE ?? join(homedir(), '.cache', 'infer-entry');
}

export interface BuildOptions {
  signal?: AbortSignal;
  /** PATH and INFER_ENTRY_E2E_CACHE come from here (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
}

/** Pointer from the npm package version to the commit, so a warm run needs no `npm pack`. */
function pointerPath(root: string): string {
  return join(root, `${NODE_LLAMA_CPP.replace('@', '-')}.json`);
}

function describe(root: string, commit: string, release: string): LlamaServerBuild {
  const dir = join(root, `llama-server-${commit}`);
  return { commit, release, dir, binDir: join(dir, 'bin'), vocabPath: join(dir, 'models', VOCAB_FILE) };
}

/** The cache is keyed by commit and build flags: a build made with other flags is rebuilt, not reused. */
function isComplete(build: LlamaServerBuild): boolean {
  if (!existsSync(join(build.binDir, 'llama-server')) || !existsSync(build.vocabPath)) return false;
  try {
    const info = JSON.parse(readFileSync(join(build.dir, 'build-info.json'), 'utf8')) as { flags?: unknown };
    return JSON.stringify(info.flags) === JSON.stringify(CMAKE_FLAGS);
  } catch {
    return false;
  }
}

async function readPointer(root: string): Promise<{ commit: string; release: string } | undefined> {
  try {
    const parsed = JSON.parse(await readFile(pointerPath(root), 'utf8')) as { commit?: unknown; release?: unknown };
    if (typeof parsed.commit === 'string' && typeof parsed.release === 'string') {
      return { commit: parsed.commit, release: parsed.release };
    }
  } catch {
    // no pointer yet: a cold run
  }
  return undefined;
}

/** Builds llama-server once per source commit; later calls return the cache in milliseconds. */
export async function ensureLlamaServer(log: Log = (l) => console.error(l), opts: BuildOptions = {}): Promise<LlamaServerBuild> {
  const { signal, env = process.env } = opts;
  const root = cacheRoot(env);
  await mkdir(root, { recursive: true });
  await removeStaleStaging(root);
  const pointer = await readPointer(root);
  if (pointer) {
    const cached = describe(root, pointer.commit, pointer.release);
    if (isComplete(cached)) return cached;
  }

  checkBuildTools(env);
  const work = await mkdtemp(join(tmpdir(), 'infer-entry-llama-build-'));
  try {
    const source = await fetchSource(work, log, env, signal);
    const build = describe(root, source.commit, source.release);
    if (!isComplete(build)) await compileAndInstall(source.dir, build, log, env, signal);
    await writeFile(pointerPath(root), JSON.stringify({ commit: build.commit, release: build.release }) + '\n');
    return build;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Staging dirs of builds that were killed (their pid is gone) are removed; a live build's is left alone. */
async function removeStaleStaging(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    const m = /^llama-server-[0-9a-f]+\.tmp-(\d+)$/.exec(name);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (!alive) await rm(join(root, name), { recursive: true, force: true });
  }
}

async function fetchSource(
  work: string,
  log: Log,
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<{ dir: string; commit: string; release: string }> {
  log(`[e2e setup] npm pack ${NODE_LLAMA_CPP}`);
  const packed = (await runProcess('npm', ['pack', NODE_LLAMA_CPP, '--silent', '--pack-destination', work], { cwd: work, env, signal })).trim();
  const tgz = join(work, packed.split('\n').pop() ?? '');
  await tar.x({ file: tgz, cwd: work }, ['package/llama/gitRelease.bundle', 'package/llama/binariesGithubRelease.json']);
  const bundle = join(work, 'package', 'llama', 'gitRelease.bundle');
  const dir = join(work, 'llama.cpp');
  log('[e2e setup] git clone gitRelease.bundle');
  await runProcess('git', ['clone', '--quiet', bundle, dir], { env, signal });
  const commit = (await runProcess('git', ['rev-parse', 'HEAD'], { cwd: dir, env, signal })).trim();
  // The tag only names the upstream-layout folder (`llama-bNNNN/`); the installer recognises that layout
  // by its shape (one folder, llama-server flat inside), never by the number. node-llama-cpp's bundle is
  // one squashed commit without a tag, and its binariesGithubRelease.json names node-llama-cpp's own
  // release (e.g. v0.5.0), so `b0` stands in unless a bNNNN tag is found.
  let release = 'b0';
  try {
    const info = JSON.parse(await readFile(join(work, 'package', 'llama', 'binariesGithubRelease.json'), 'utf8')) as { release?: unknown };
    if (typeof info.release === 'string' && /^b\d+$/.test(info.release)) release = info.release;
  } catch {
    // no release file: keep b0
  }
  log(`[e2e setup] llama.cpp commit ${commit}, ${release === 'b0' ? 'no bNNNN release tag (upstream-layout archives use llama-b0/)' : `release ${release}`}`);
  return { dir, commit, release };
}

async function compileAndInstall(src: string, build: LlamaServerBuild, log: Log, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<void> {
  const out = join(src, 'build');
  const started = Date.now();
  log('[e2e setup] cmake configure (first run only; the build takes several minutes on 2 cores)');
  await runProcess('cmake', ['-S', src, '-B', out, ...CMAKE_FLAGS], { env, signal });
  let lastPct = -1;
  await runProcess('cmake', ['--build', out, '--target', 'llama-server', '-j2'], {
    env,
    signal,
    onLine: (line) => {
      const m = /^\[\s*(\d+)%\]/.exec(line);
      const pct = m ? Number(m[1]) : -1;
      if (pct >= lastPct + 5) {
        lastPct = pct;
        log(`[e2e setup] building llama-server ${pct}% (${Math.round((Date.now() - started) / 1000)} s)`);
      }
    },
  });
  log(`[e2e setup] built in ${Math.round((Date.now() - started) / 1000)} s`);

  // Stage next to the final dir (same filesystem) and rename: a killed build never leaves a half cache.
  const staging = `${build.dir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(join(staging, 'bin'), { recursive: true });
  await mkdir(join(staging, 'models'), { recursive: true });
  // llama.cpp puts the server and its .so files in build/bin; look everywhere in case a version does not.
  for (const entry of await readdir(out, { withFileTypes: true, recursive: true })) {
    const keep = entry.name === 'llama-server' || /^lib.*\.so(\.\d+)*$/.test(entry.name);
    if (!keep || entry.parentPath.includes('CMakeFiles') || !(entry.isFile() || entry.isSymbolicLink())) continue;
    const from = join(entry.parentPath, entry.name);
    const to = join(staging, 'bin', entry.name);
    if (existsSync(to)) continue;
    if (entry.isSymbolicLink()) await symlink(await readlink(from), to);
    else await copyFile(from, to);
  }
  await copyFile(join(src, 'models', VOCAB_FILE), join(staging, 'models', VOCAB_FILE));
  await writeFile(join(staging, 'build-info.json'), JSON.stringify({ commit: build.commit, release: build.release, flags: CMAKE_FLAGS }, null, 2) + '\n');
  // A build of this commit with other flags (see isComplete) makes way for this one.
  if (existsSync(build.dir) && !isComplete(build)) await rm(build.dir, { recursive: true, force: true });
  try {
    await rename(staging, build.dir);
  } catch (err) {
    // A concurrent run finished first: its result is as good as ours.
    await rm(staging, { recursive: true, force: true });
    if (!isComplete(build)) throw err;
  }
  log(`[e2e setup] installed ${build.dir}`);
}
