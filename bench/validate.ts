/**
 * Config validation complexity: is every step linear in the input? In one
 * process, for growing inputs, it times
 *   - parseConfig (what `validate`, boot and reload run: TOML, structure walk,
 *     locator, zod, per-instance build, port check) on 1k / 10k / 100k instances,
 *     against smol-toml's parse of the same text as the reference;
 *   - the position locator and parseConfig on values nested 10 / 100 / 1000 deep
 *     (refused past 32 levels, so this times how fast the refusal comes).
 * and prints, per step, the time per unit and the growth factor for a 10×
 * larger input (10× is linear; 100× would be quadratic).
 * Usage: npm run build && node dist/bench/validate.js   (BENCH_REPEAT, default 3: median)
 */
import { parse as parseToml } from 'smol-toml';
import { parseConfig } from '../src/config/parse.js';
import { createTomlLocator } from '../src/config/toml-locator.js';
import { resolvePaths } from '../src/paths.js';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const paths = resolvePaths({ INFER_ENTRY_ROOT: '/opt/bench-root' });

/** Median over BENCH_REPEAT samples of the time per call; each sample loops until it lasts ≥ 50 ms, so sub-millisecond steps are measurable. */
function median(fn: () => unknown): number {
  fn(); // warm-up: the first call pays for JIT compilation
  const times: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    do {
      fn();
      calls++;
      elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    } while (elapsed < 50);
    times.push(elapsed / calls);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

function instances(n: number): string {
  const lines = ['[master]', 'llama_cpp_path = "/opt/llama/bin/llama-server"', '', '[instance.control]', 'restart = "on-failure"', '', '[instance.server]', 'ctx_size = 4096', ''];
  for (let k = 0; k < n; k++) {
    lines.push(`[instance.i${k}.server]`, `model = "/models/m${k}.gguf"`, `port = ${10000 + (k % 50000)}`, `host = "10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}"`, 'n_gpu_layers = 99', '');
  }
  return lines.join('\n');
}

function nested(depth: number): string {
  return `[instance.a.server]\nmodel = "/m.gguf"\nx = ${'{a='.repeat(depth)}1${'}'.repeat(depth)}\ny = ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
}

const rows: string[] = ['| input | step | time | per unit | growth for 10× input |', '| --- | --- | --- | --- | --- |'];
function table(label: string, unit: string, sizes: number[], make: (n: number) => string, steps: [string, (text: string) => unknown][]): void {
  for (const [step, fn] of steps) {
    let previous: number | undefined;
    for (const n of sizes) {
      const text = make(n);
      const ms = median(() => fn(text));
      const growth = previous === undefined ? '' : `${(ms / previous).toFixed(1)}×`;
      rows.push(`| ${label} ${n.toLocaleString('en')} | ${step} | ${ms < 1 ? ms.toFixed(3) : ms.toFixed(1)} ms | ${((ms * 1000) / n).toFixed(2)} µs/${unit} | ${growth} |`);
      previous = ms;
    }
  }
}

const validate = (text: string) => parseConfig(text, 'bench.toml', { env: {}, paths, exists: () => true });

table('instances', 'instance', [1_000, 10_000, 100_000], instances, [
  ['smol-toml parse (reference)', (text) => parseToml(text)],
  ['parseConfig (validate)', validate],
]);
table('nesting', 'level', [10, 100, 1_000], nested, [
  ['toml-locator', (text) => createTomlLocator(text).locate(['instance', 'a', 'server', 'x'])],
  ['parseConfig (validate)', validate],
]);

const big = instances(100_000);
const ratio = median(() => validate(big)) / median(() => parseToml(big));
console.log(rows.join('\n'));
console.log(`\nparseConfig / smol-toml parse at 100k instances: ${ratio.toFixed(1)}× (${(Buffer.byteLength(big) / 1024 / 1024).toFixed(1)} MiB of TOML)`);
