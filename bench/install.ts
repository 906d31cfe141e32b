/**
 * Installer benchmark: builds a realistic llama.cpp-like archive (a few large
 * .so-like files plus many small files, a few hundred MB), then measures on
 * the same file, in one run:
 *   cold: `infer-entry install`          vs  cp + sha256sum + GNU tar -xzf  (and unzip for the zip)
 *   warm: `infer-entry install` (no-op)  vs  sha256sum, and vs the warm run of a small archive
 *         with the same 1,509 entries (BENCH_SMALL_MB of large files, default 12: ~5 MB tar.gz)
 * Each timing is the median of BENCH_REPEAT runs (default 3), page cache warm
 * for both sides. Usage: npm run build && npm run bench:install
 * Env: BENCH_MB (size of the large files in total, default 300), BENCH_SMALL_MB, BENCH_REPEAT, BENCH_DIR (default os.tmpdir()).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Run as the image runs it: through its shebang (`env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 ...`).
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const BIG_MB = Number(process.env.BENCH_MB ?? 300);
const SMALL_MB = Number(process.env.BENCH_SMALL_MB ?? 12);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const SMALL_FILES = 1500;

/** Bytes that compress roughly like a shared library (~2.5×): random runs mixed with repeated text. */
function soLike(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  const text = Buffer.from('ggml_compute_forward_mul_mat\0llama_model_load\0_ZN5llama7context4evalEv\0'.repeat(64));
  let off = 0;
  while (off < size) {
    const rnd = randomBytes(Math.min(1536, size - off));
    rnd.copy(out, off);
    off += rnd.length;
    const n = Math.min(2560, size - off);
    text.copy(out, off, 0, n);
    off += n;
  }
  return out;
}

async function buildTree(dir: string, bigMb = BIG_MB): Promise<void> {
  const bin = path.join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(path.join(dir, 'README.md'), '# llama.cpp build\n');
  await writeFile(path.join(bin, 'llama-server'), '#!/bin/sh\n[ "$1" = --version ] && echo "version: 0 (bench)" >&2\nexit 0\n', { mode: 0o755 });
  const shares = [0.5, 0.3, 0.15, 0.05];
  const names = ['libggml-cuda.so.0', 'libllama.so.0', 'libggml-cpu.so.0', 'libggml-base.so.0'];
  for (let i = 0; i < names.length; i++) {
    await writeFile(path.join(bin, names[i]!), soLike(Math.floor(bigMb * 1024 * 1024 * shares[i]!)));
    await symlink(names[i]!, path.join(bin, names[i]!.replace(/\.0$/, '')));
  }
  for (let d = 0; d < 15; d++) {
    const sub = path.join(dir, 'share', `dir${d}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < SMALL_FILES / 15; f++) await writeFile(path.join(sub, `file${f}.txt`), soLike(1024 + ((f * 7919) % 20_000)));
  }
}

/**
 * infer-entry's environment in the image. A build machine may set NODE_EXTRA_CA_CERTS (this one
 * does, for its npm proxy): node then parses that CA bundle at every start, ~50-70 ms here, which
 * the image never pays (it does not set it; test/image/metadata.test.ts checks).
 */
function imageEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _ca, ...rest } = env;
  return rest;
}

function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/** CPU time (user + system, ms) of the children waited for so far: /proc/self/stat cutime + cstime. */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

/** Wall time of fn; its children's CPU time is added to `cpu` (robust when the machine is shared). */
const cpuOf = new Map<number[], number[]>();
function time(fn: () => void, into?: number[]): number {
  const c0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (into) {
    const list = cpuOf.get(into) ?? [];
    list.push(childrenCpuMs() - c0);
    cpuOf.set(into, list);
  }
  return wall;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} missing: run npm run build first`);
  const work = await mkdtemp(path.join(process.env.BENCH_DIR ?? tmpdir(), 'infer-entry-bench-'));
  try {
    const src = path.join(work, 'src');
    await buildTree(src);
    const smallSrc = path.join(work, 'small-src');
    await buildTree(smallSrc, SMALL_MB);
    const tgz = path.join(work, 'llama-bench.tar.gz');
    const smallTgz = path.join(work, 'llama-small.tar.gz');
    const zip = path.join(work, 'llama-bench.zip');
    process.stderr.write('building archives...\n');
    sh('tar', ['-czf', tgz, '-C', src, '.']);
    sh('tar', ['-czf', smallTgz, '-C', smallSrc, '.']);
    const haveZip = spawnSync('zip', ['-v'], { stdio: 'ignore' }).status === 0 && spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0;
    if (haveZip) spawnSync('sh', ['-c', `cd "${src}" && zip -qry "${zip}" .`], { stdio: 'inherit' });
    const sizeOf = (f: string): number => Number(execFileSync('stat', ['-c', '%s', f], { encoding: 'utf8' }).trim());
    const unpacked = Number(execFileSync('du', ['-sb', src], { encoding: 'utf8' }).split('\t')[0]);

    // An archive modified less than 2 s before it is hashed is not trusted by identity (see
    // src/installer/identity.ts); a mounted archive is older than that, so let these settle.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const rows: { name: string; ours: number; theirs: number; target: string; ok: boolean; detail: string; cpu: string }[] = [];
    const cpu = (xs: number[]): number => median(cpuOf.get(xs) ?? [NaN]);
    const cpuCol = (a: number[], b: number[]): string => `${cpu(a).toFixed(0)} / ${cpu(b).toFixed(0)} ms = ${(cpu(a) / cpu(b)).toFixed(2)}×`;
    const measure = async (format: string, archive: string, extractCmd: (file: string, dest: string) => [string, string[]]): Promise<void> => {
      const cold: number[] = [];
      const gnu: number[] = [];
      const warm: number[] = [];
      const verify: number[] = [];
      const warmSmall: number[] = [];
      const warmCa: number[] = [];
      const hash: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        const root = path.join(work, `root-${format}-${i}`);
        const env = imageEnv({ ...process.env, INFER_ENTRY_ROOT: root, INFER_ENTRY_LOG_LEVEL: 'warn' });
        cold.push(time(() => sh(MAIN, ['install', '--pkg', archive], env), cold));
        warm.push(time(() => sh(MAIN, ['install', '--pkg', archive], env), warm));
        if (process.env.NODE_EXTRA_CA_CERTS) {
          warmCa.push(time(() => sh(MAIN, ['install', '--pkg', archive], { ...env, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS }), warmCa));
        }
        verify.push(time(() => sh(MAIN, ['install', '--verify', '--pkg', archive], env), verify));
        await rm(root, { recursive: true, force: true });
        if (format === 'tar.gz') {
          const smallRoot = path.join(work, `root-small-${i}`);
          const smallEnv = { ...env, INFER_ENTRY_ROOT: smallRoot };
          sh(MAIN, ['install', '--pkg', smallTgz], smallEnv);
          warmSmall.push(time(() => sh(MAIN, ['install', '--pkg', smallTgz], smallEnv), warmSmall));
          await rm(smallRoot, { recursive: true, force: true });
        }

        const ref = path.join(work, `gnu-${format}-${i}`);
        await mkdir(path.join(ref, 'out'), { recursive: true });
        const cached = path.join(ref, path.basename(archive));
        const [xcmd, xargs] = extractCmd(cached, path.join(ref, 'out'));
        gnu.push(time(() => {
          sh('cp', [archive, cached]);
          sh('sha256sum', [cached]);
          sh(xcmd, xargs);
        }, gnu));
        hash.push(time(() => sh('sha256sum', [archive]), hash));
        await rm(ref, { recursive: true, force: true });
      }
      const c = median(cold);
      const g = median(gnu);
      const w = median(warm);
      const v = median(verify);
      const h = median(hash);
      const coldTarget = format === 'zip' ? 1.0 : 0.7;
      rows.push({ name: `cold ${format}`, ours: c, theirs: g, target: `≤ ${coldTarget.toFixed(1)}×`, ok: c <= coldTarget * g, detail: `install vs cp + sha256sum + ${xcmdName(format)}`, cpu: cpuCol(cold, gnu) });
      rows.push({ name: `warm ${format}`, ours: w, theirs: h, target: '≤ 0.5×', ok: w <= 0.5 * h, detail: 'install (already installed) vs sha256sum', cpu: cpuCol(warm, hash) });
      if (warmCa.length > 0) {
        rows.push({ name: `warm ${format}, this machine's NODE_EXTRA_CA_CERTS`, ours: median(warmCa), theirs: h, target: '(information)', ok: true, detail: 'the same with the CA bundle node parses at start-up', cpu: cpuCol(warmCa, hash) });
      }
      if (warmSmall.length > 0) {
        const ws = median(warmSmall);
        rows.push({ name: `warm ${format}, size-independent`, ours: w, theirs: ws, target: '≤ 1.3×', ok: w <= 1.3 * ws, detail: `install (already installed) vs the same of a ${(sizeOf(smallTgz) / 2 ** 20).toFixed(1)} MiB archive with as many entries`, cpu: cpuCol(warm, warmSmall) });
      }
      rows.push({ name: `warm ${format} --verify`, ours: v, theirs: h, target: '(information)', ok: true, detail: 'install --verify (already installed, full hash) vs sha256sum', cpu: cpuCol(verify, hash) });
    };
    const xcmdName = (format: string): string => (format === 'zip' ? 'unzip -q' : 'tar -xzf');

    await measure('tar.gz', tgz, (file, dest) => ['tar', ['-xzf', file, '-C', dest]]);
    if (haveZip) await measure('zip', zip, (file, dest) => ['unzip', ['-q', file, '-d', dest]]);

    const out = [
      `archive: ${(sizeOf(tgz) / 2 ** 20).toFixed(0)} MiB tar.gz${haveZip ? `, ${(sizeOf(zip) / 2 ** 20).toFixed(0)} MiB zip` : ''}; ${(unpacked / 2 ** 20).toFixed(0)} MiB unpacked, ${SMALL_FILES + 9} files; median of ${REPEAT}`,
      '',
      '| case | infer-entry | reference | ratio (wall) | target | met | CPU time (user+sys): infer-entry / reference |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.name} (${r.detail}) | ${r.ours.toFixed(0)} ms | ${r.theirs.toFixed(0)} ms | ${(r.ours / r.theirs).toFixed(2)}× | ${r.target} | ${r.ok ? 'yes' : 'NO'} | ${r.cpu} |`),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    if (!haveZip) process.stdout.write('(zip/unzip not installed: zip case skipped; apt-get install -y zip unzip)\n');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
