import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/parse.js';
import { INSTALLED, ROOT, parseOk, paths } from './helpers.js';

const example = readFileSync(fileURLToPath(new URL('../../../docs/examples/existing-launcher.toml', import.meta.url)), 'utf8');

describe('argv and env of the existing launcher contract', () => {
  it('the example from the issue produces exactly the old launcher argv, plus only what it left implicit', () => {
    const config = parseOk(example);
    expect(config.enable).toBe(true);
    expect(config.instances).toHaveLength(1);
    const spec = config.instances[0]!;
    expect(spec.name).toBe('llama-3-8b');
    expect(spec.executable).toBe('/soft/app/llama-cpp/bin/llama-server');
    // extra_args first, then shared keys in file order, then the instance's keys; lists repeat the flag.
    expect(spec.args).toEqual([
      '--jinja',
      '--host', '0.0.0.0',
      '--n-gpu-layers', '99',
      '--metrics',
      '--flash-attn', 'auto',
      '--model', '/models/llama-3-8b.gguf',
      '--port', '8080',
      '--alias', 'llama3',
      '--ctx-size', '8192',
      '--lora', '/a.gguf', '--lora', '/b.gguf',
    ]);
    expect(spec.env).toEqual({ CUDA_VISIBLE_DEVICES: '0,1', LD_LIBRARY_PATH: '/soft/app/llama-cpp/bin' });
    expect(spec.envRemove).toEqual(['LLAMA_SERVER_ROUTER_PORT']);
    expect(spec).toMatchObject({ host: '0.0.0.0', probeHost: '127.0.0.1', port: 8080, model: '/models/llama-3-8b.gguf', logFile: '/var/log/llama/llama3.log', enabled: true, secrets: [] });
    expect(spec.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a minimal instance gets the install\'s llama-server, explicit --host/--port defaults, the old default log file and the documented supervision defaults', () => {
    const spec = parseOk('[instance.one.server]\nmodel = "/m/one.gguf"\n').instances[0]!;
    expect(spec.executable).toBe(INSTALLED);
    expect(spec.args).toEqual(['--model', '/m/one.gguf', '--host', '127.0.0.1', '--port', '8080']);
    expect(spec).toMatchObject({ host: '127.0.0.1', probeHost: '127.0.0.1', port: 8080, logFile: '/tmp/llama-server-one.log', enabled: true });
    expect(spec.env).toEqual({ LD_LIBRARY_PATH: `${ROOT}/llama-cpp/bin` });
    expect(spec.supervision).toEqual({
      restart: 'always',
      backoff: { initialMs: 1000, maxMs: 60000, multiplier: 2, jitter: 0.2, resetAfterMs: 60000 },
      crashLoop: { maxUnreadyStarts: 5, maxRestarts: 10, windowMs: 600000 },
      health: { path: '/health', startupIntervalMs: 1000, startupTimeoutMs: 600000, intervalMs: 10000, timeoutMs: 5000, failureThreshold: 3 },
      stopGraceMs: 8000,
    });
  });

  it('without an install, llama-server is looked up on PATH, and a bare name is kept when it is nowhere', () => {
    const onPath = parseOk('[instance.a.server]\nmodel = "/m.gguf"\n', { PATH: '/usr/bin:/opt/llama/bin' }, (p) => p === '/opt/llama/bin/llama-server');
    expect(onPath.instances[0]!.executable).toBe('/opt/llama/bin/llama-server');
    expect(onPath.instances[0]!.env.LD_LIBRARY_PATH).toBe('/opt/llama/bin');
    const nowhere = parseOk('[instance.a.server]\nmodel = "/m.gguf"\n', { PATH: '/usr/bin' }, () => false);
    expect(nowhere.instances[0]!.executable).toBe('llama-server');
    expect(nowhere.instances[0]!.env.LD_LIBRARY_PATH).toBeUndefined();
  });

  it('LD_LIBRARY_PATH: executable dir, then the install lib dirs that exist, then the daemon\'s own value', () => {
    const existing = new Set([INSTALLED, `${ROOT}/llama-cpp/lib`]);
    const spec = parseOk('[instance.a.server]\nmodel = "/m.gguf"\n', { LD_LIBRARY_PATH: '/usr/local/cuda/lib64' }, (p) => existing.has(p)).instances[0]!;
    expect(spec.env.LD_LIBRARY_PATH).toBe(`${ROOT}/llama-cpp/bin:${ROOT}/llama-cpp/lib:/usr/local/cuda/lib64`);
  });

  it('several instances: scalars replace the shared value, lists are concatenated, false omits a shared flag', () => {
    const config = parseOk(`
[instance.server]
host = "0.0.0.0"
metrics = true
ctx_size = 4096
extra_args = ["--no-warmup"]
lora = ["/shared.gguf"]

[instance.a.server]
model = "/a.gguf"
port = 8001
ctx_size = 8192
extra_args = ["--jinja"]
lora = ["/a-lora.gguf"]

[instance.b.server]
model = "/b.gguf"
port = 8002
metrics = false
lora = "/only-b.gguf"
`);
    const [a, b] = config.instances;
    expect(a!.args).toEqual(['--no-warmup', '--jinja', '--host', '0.0.0.0', '--metrics', '--ctx-size', '8192', '--lora', '/shared.gguf', '--lora', '/a-lora.gguf', '--model', '/a.gguf', '--port', '8001']);
    expect(b!.args).toEqual(['--no-warmup', '--host', '0.0.0.0', '--ctx-size', '4096', '--lora', '/only-b.gguf', '--model', '/b.gguf', '--port', '8002']);
  });

  it('gpu_ids: "all" leaves CUDA_VISIBLE_DEVICES alone, "none" empties it, a list or an integer sets it', () => {
    const config = parseOk(`
[instance.all.control]
gpu_ids = "all"
[instance.all.server]
model = "/m.gguf"
port = 1
[instance.none.control]
gpu_ids = "none"
[instance.none.server]
model = "/m.gguf"
port = 2
[instance.two.control]
gpu_ids = "2, 3"
[instance.two.server]
model = "/m.gguf"
port = 3
[instance.int.control]
gpu_ids = 1
[instance.int.server]
model = "/m.gguf"
port = 4
`);
    const env = Object.fromEntries(config.instances.map((s) => [s.name, s.env.CUDA_VISIBLE_DEVICES]));
    expect(env).toEqual({ all: undefined, none: '', two: '2,3', int: '1' });
    expect('CUDA_VISIBLE_DEVICES' in config.instances[0]!.env).toBe(false);
  });

  it('api_key and hf_token go to the environment and secrets, never to argv', () => {
    const spec = parseOk('[instance.s.server]\nmodel = "/m.gguf"\napi_key = "sk-very-secret"\nhf_token = "hf_abcdef"\n').instances[0]!;
    expect(spec.args.join(' ')).not.toContain('sk-very-secret');
    expect(spec.args.join(' ')).not.toContain('hf_abcdef');
    expect(spec.args).not.toContain('--api-key');
    expect(spec.env).toMatchObject({ LLAMA_API_KEY: 'sk-very-secret', HF_TOKEN: 'hf_abcdef' });
    expect(spec.secrets).toEqual(['sk-very-secret', 'hf_abcdef']);
  });

  it('host/port/model may come from extra_args; probes follow them and --host/--port are not added twice', () => {
    const spec = parseOk('[instance.x.server]\nextra_args = ["-m", "/raw.gguf", "--host", "::", "--port=9001"]\n').instances[0]!;
    expect(spec.args).toEqual(['-m', '/raw.gguf', '--host', '::', '--port=9001']);
    expect(spec).toMatchObject({ host: '::', probeHost: '::1', port: 9001, model: '/raw.gguf' });
  });

  it('a model from hf_repo needs no model file; unknown server keys map with the same rule', () => {
    const spec = parseOk('[instance.h.server]\nhf_repo = "ggml-org/gemma-3-4b-it-GGUF"\nport = 8090\nreasoning_budget = 0\nno_context_shift = true\nspec_replace = ["a", "b"]\nflash_attn = true\n').instances[0]!;
    expect(spec.model).toBeUndefined();
    expect(spec.args).toEqual(['--hf-repo', 'ggml-org/gemma-3-4b-it-GGUF', '--port', '8090', '--reasoning-budget', '0', '--no-context-shift', '--spec-replace', 'a', '--spec-replace', 'b', '--flash-attn', 'on', '--host', '127.0.0.1']);
  });

  it('a split model is passed as its first shard', () => {
    const spec = parseOk('[instance.big.server]\nmodel = "/m/q-00001-of-00003.gguf"\n').instances[0]!;
    expect(spec.model).toBe('/m/q-00001-of-00003.gguf');
    expect(spec.args.slice(0, 2)).toEqual(['--model', '/m/q-00001-of-00003.gguf']);
  });

  it('control: per-instance keys override shared ones; durations accept "500ms", "10m", "1h" and integer seconds; log_file wins over log_dir; "" disables the file', () => {
    const config = parseOk(`
[instance.control]
log_dir = "/var/log/llama"
restart = "on-failure"
health_timeout = "500ms"
stop_grace_period = 3
[instance.a.control]
restart = "never"
health_startup_timeout = "1h"
crash_loop_window = "10m"
restart_backoff_initial = "1.5s"
enabled = false
[instance.a.server]
model = "/a.gguf"
[instance.b.control]
log_file = ""
[instance.b.server]
model = "/b.gguf"
port = 8081
`);
    const [a, b] = config.instances;
    expect(a!.enabled).toBe(false);
    expect(a!.logFile).toBe('/var/log/llama/llama-server-a.log');
    expect(a!.supervision).toMatchObject({ restart: 'never', stopGraceMs: 3000, health: { timeoutMs: 500, startupTimeoutMs: 3_600_000 }, crashLoop: { windowMs: 600_000 }, backoff: { initialMs: 1500 } });
    expect(b!.supervision.restart).toBe('on-failure');
    expect(b!.logFile).toBeUndefined();
  });

  it('master.enable = false is reported, and instances are still validated and listed', () => {
    const config = parseOk('[master]\nenable = false\n[instance.a.server]\nmodel = "/a.gguf"\n');
    expect(config.enable).toBe(false);
    expect(config.instances.map((s) => s.name)).toEqual(['a']);
  });

  it('AUTO_INFER_LLAMA_CPP_OVERRIDES is deep-merged over the file: tables merge, values and lists replace, null removes', () => {
    const overrides = JSON.stringify({ instance: { server: { ctx_size: 2048 }, a: { server: { port: 9000, extra_args: ['--jinja'], alias: null } } } });
    const spec = parseOk('[instance.server]\nctx_size = 4096\n[instance.a.server]\nmodel = "/a.gguf"\nport = 8000\nalias = "x"\nextra_args = ["--no-warmup"]\n', { AUTO_INFER_LLAMA_CPP_OVERRIDES: overrides }).instances[0]!;
    expect(spec.args).toEqual(['--jinja', '--ctx-size', '2048', '--model', '/a.gguf', '--port', '9000', '--host', '127.0.0.1']);
    expect(spec.port).toBe(9000);
  });

  it('the fingerprint changes with what affects the process and not otherwise', () => {
    const base = '[instance.a.server]\nmodel = "/a.gguf"\n';
    const f = (text: string) => parseOk(text).instances[0]!.fingerprint;
    expect(f(base)).toBe(f(`# a comment\n${base}`));
    expect(f(base)).not.toBe(f(`${base}ctx_size = 1\n`));
    expect(f(base)).not.toBe(f(`${base}api_key = "other-key"\n`));
    expect(f(base)).not.toBe(f(`[instance.a.control]\ngpu_ids = "1"\n${base}`));
    // output settings too: a reload that changes one restarts the instance
    expect(f(base)).not.toBe(f(`[instance.a.control]\nlog_dir = "/var/log"\n${base}`));
    expect(f(base)).not.toBe(f(`[instance.a.control]\ndaemon_log = false\n${base}`));
    expect(f(base)).toBe(f(`[instance.a.control]\ndaemon_log = true\n${base}`));
  });

  it('daemon_log: true unless set, shared or per instance, the instance winning', () => {
    const config = parseOk(
      '[instance.control]\ndaemon_log = false\n[instance.a.server]\nmodel = "/a.gguf"\n[instance.b.control]\ndaemon_log = true\n[instance.b.server]\nmodel = "/b.gguf"\nport = 8081\n',
    );
    expect(config.instances.map((s) => [s.name, s.daemonLog, s.logFile])).toEqual([
      ['a', false, '/tmp/llama-server-a.log'],
      ['b', true, '/tmp/llama-server-b.log'],
    ]);
    expect(parseOk('[instance.a.server]\nmodel = "/a.gguf"\n').instances[0]!.daemonLog).toBe(true);
  });

  it('parseConfig without an injected exists() assumes nothing exists: a bare llama-server, no library dirs', () => {
    const { config } = parseConfig('[instance.a.server]\nmodel = "/a.gguf"\n', 'x.toml', { env: { PATH: '/usr/bin' }, paths });
    expect(config?.instances[0]?.executable).toBe('llama-server');
    expect(config?.instances[0]?.env).toEqual({});
  });
});
