import { describe, expect, it } from 'vitest';
import { formatProblem, keyPathString, type ConfigProblem } from '../../../src/config/problem.js';
import { parse } from './helpers.js';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  const { config, problems } = parse(text, env);
  expect(config).toBeNull();
  return problems;
}
const one = (text: string, env: NodeJS.ProcessEnv = {}) => {
  const problems = problemsOf(text, env);
  expect(problems, problems.map(formatProblem).join('\n')).toHaveLength(1);
  return problems[0]!;
};

describe('problems: place, key path and message', () => {
  it('a TOML syntax error points at its line and column', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\nport = = 8080\n');
    expect(p).toMatchObject({ kind: 'syntax', line: 3, file: 'test.toml' });
    expect(p.column).toBeGreaterThan(0);
    expect(formatProblem(p)).toMatch(/^test\.toml:3:\d+: TOML syntax error: /);
  });

  it('an unknown key in [master] or control is an error with a "did you mean"', () => {
    const problems = problemsOf('[master]\nenabel = true\n\n[instance.control]\nlog_dri = "/tmp"\n[instance.a.control]\ngpu_id = "0"\n[instance.a.server]\nmodel = "/a.gguf"\n');
    expect(problems.map(formatProblem)).toEqual([
      'test.toml:2:1 master.enabel: unknown key "enabel" in [master] (did you mean "enable"?)',
      'test.toml:5:1 instance.control.log_dri: unknown key "log_dri" in [instance.control] (did you mean "log_dir"?)',
      'test.toml:7:1 instance.a.control.gpu_id: unknown key "gpu_id" in [instance.a.control] (did you mean "gpu_ids"?)',
    ]);
    expect(problems.every((p) => p.kind === 'schema')).toBe(true);
  });

  it('a key with bidi overrides, C1 or other control characters is shown escaped, on one line', () => {
    // TOML escapes: raw control characters are a syntax error, escaped ones make a legal key.
    const p = one('[master]\n"ena\\u202Eble\\u0085\\u001B[2J" = true\n');
    const line = formatProblem(p);
    expect(line).toContain('ena\\u{202e}ble\\u{85}\\u{1b}[2J');
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });

  it('a server key that could not be a llama-server option is refused with its place, not put on argv', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\n"ctx size" = 8\nno-mmap = true\n');
    expect(formatProblem(p)).toBe(`test.toml:3:1 instance.a.server."ctx size": "ctx size" is not an option name (expected letters, digits, '_' or '-', starting with a letter or digit, like ctx_size or no-mmap)`);
  });

  it('a misspelt table name at the top level or in an instance is named', () => {
    const problems = problemsOf('[instances.a.server]\nmodel = "/a.gguf"\n[instance.b.sever]\nmodel = "/b.gguf"\n');
    expect(problems.map(formatProblem)).toEqual([
      'test.toml:1:2 instances: unknown key "instances" at the top level (did you mean "instance"?)',
      'test.toml:3:2 instance.b.sever: unknown key "sever" in [instance.b] (expected "control" or "server"; did you mean "server"?)',
    ]);
  });

  it('a llama-server flag written directly in [instance.NAME] says where it belongs', () => {
    const p = one('[instance.a]\nmodel = "/a.gguf"\n[instance.a.server]\nport = 1\nmodel = "/a.gguf"\n');
    expect(formatProblem(p)).toBe('test.toml:2:1 instance.a.model: unknown key "model" in [instance.a] (expected "control" or "server"; llama-server flags go in [instance.a.server])');
    expect(p.instance).toBe('a');
  });

  it('wrong types and out-of-range values name the expected and the actual value, for dotted keys and inline tables too', () => {
    const problems = problemsOf(`[instance.a.server]
model = "/a.gguf"
port = "8080"
ctx_size = -1
n_gpu_layers = -2
[instance.b]
server.model = "/b.gguf"
server.port = 70000
[instance.c]
server = { model = "/c.gguf", flash_attn = "yes" }
`);
    expect(problems.map(formatProblem)).toEqual([
      'test.toml:3:1 instance.a.server.port: wrong type (expected a number, got "8080")',
      'test.toml:4:1 instance.a.server.ctx_size: too small (expected ≥ 0, got -1)',
      'test.toml:5:1 instance.a.server.n_gpu_layers: too small (expected ≥ -1, got -2)',
      'test.toml:8:1 instance.b.server.port: too large (expected ≤ 65535, got 70000)',
      'test.toml:10:31 instance.c.server.flash_attn: invalid value (expected "on", "off" or "auto", got "yes")',
    ]);
  });

  it('control values: restart policy, durations, gpu_ids, health path', () => {
    const problems = problemsOf(`[instance.control]
restart = "sometimes"
health_interval = "5 minutes"
stop_grace_period = -1
[instance.a.control]
gpu_ids = "first"
health_path = "health"
[instance.a.server]
model = "/a.gguf"
`);
    expect(problems.map(formatProblem)).toEqual([
      'test.toml:2:1 instance.control.restart: not an allowed value (expected one of "always", "on-failure", "never", got "sometimes")',
      'test.toml:3:1 instance.control.health_interval: invalid value (expected a duration like "30s", "10m", "1h", "500ms", or an integer number of seconds, got "5 minutes")',
      'test.toml:4:1 instance.control.stop_grace_period: too small (expected ≥ 0, got -1)',
      'test.toml:6:1 instance.a.control.gpu_ids: invalid value (expected "all", "none" or a comma-separated list of GPU indexes/UUIDs like "0,1", got "first")',
      'test.toml:7:1 instance.a.control.health_path: invalid value (expected an HTTP path starting with "/", got "health")',
    ]);
  });

  it('a list item of the wrong type is located at its item', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\nextra_args = [\n  "--jinja",\n  true,\n]\n');
    expect(keyPathString(p.path)).toBe('instance.a.server.extra_args[1]');
    expect(p.line).toBe(5);
    expect(p.message).toBe('invalid value (expected a string or a number, got true)');
  });

  it('a non-table key under [instance] is explained', () => {
    const p = one('[instance]\nmodel = "/a.gguf"\n');
    expect(formatProblem(p)).toBe('test.toml:2:1 instance.model: "model" is not a table, but every key of [instance] other than control and server names an instance (expected [instance.model.server] with its flags, got "/a.gguf")');
  });
});

describe('semantic problems across instances', () => {
  it('two enabled instances on one port of one host; a wildcard host clashes with every host; a disabled one may share', () => {
    const problems = problemsOf(`[instance.a.server]
model = "/a.gguf"
host = "0.0.0.0"
port = 8080
[instance.b.server]
model = "/b.gguf"
host = "127.0.0.1"
port = 8080
[instance.c.server]
model = "/c.gguf"
host = "127.0.0.1"
port = 8081
[instance.d.server]
model = "/d.gguf"
host = "10.0.0.1"
port = 8081
[instance.e.control]
enabled = false
[instance.e.server]
model = "/e.gguf"
port = 8080
`);
    expect(problems.map(formatProblem)).toEqual([
      'test.toml:8:1 instance.b.server.port: port 8080 on host 127.0.0.1 is already used by instance "a" (host 0.0.0.0) (expected a port no other enabled instance listens on)',
    ]);
    expect(problems[0]).toMatchObject({ kind: 'semantic', instance: 'b' });
  });

  it('instances that both take the default port clash, reported at the later instance', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\n[instance.b.server]\nmodel = "/b.gguf"\n');
    expect(p).toMatchObject({ path: ['instance', 'b', 'server', 'port'], line: 3, instance: 'b', subject: 'setting' });
  });

  it('an instance without a model, unless hf_repo or extra_args supply one', () => {
    const p = one('[instance.a.server]\nport = 1\n[instance.b.server]\nport = 2\nhf_repo = "x/y"\n[instance.c.server]\nport = 3\nextra_args = ["-hf", "x/y"]\n');
    expect(formatProblem(p)).toBe('test.toml:1:2 instance.a.server.model: no model (expected model = "/path/to/model.gguf", or hf_repo, model_url, or a --model/-hf flag in extra_args)');
  });

  it('--port/--host/--model given both as a key and in extra_args', () => {
    const problems = problemsOf('[instance.a.server]\nmodel = "/a.gguf"\nport = 8080\nhost = "0.0.0.0"\nextra_args = ["--port", "8081", "--host=::"]\n');
    expect(problems.map((p) => p.message)).toEqual([
      '--host is given twice: by host = "0.0.0.0" and in extra_args (expected one of them)',
      '--port is given twice: by port = 8080 and in extra_args (expected one of them)',
    ]);
    expect(problems.every((p) => keyPathString(p.path) === 'instance.a.server.extra_args' && p.line === 5)).toBe(true);
  });

  it('--api-key on the command line is refused, without echoing the key', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\nextra_args = ["--api-key", "sk-do-not-show"]\n');
    expect(p.message).toContain('--api-key must not be on the command line');
    expect(p.message).toContain('server.api_key');
    expect(formatProblem(p)).not.toContain('sk-do-not-show');
  });

  it('an instance name unusable on the command line and in file names', () => {
    const p = one('[instance."my model".server]\nmodel = "/a.gguf"\n');
    expect(keyPathString(p.path)).toBe('instance."my model"');
    expect(p.message).toMatch(/instance name "my model" is not usable/);
  });

  it('restart_backoff_initial longer than restart_backoff_max', () => {
    const p = one('[instance.a.control]\nrestart_backoff_initial = "2m"\nrestart_backoff_max = "1m"\n[instance.a.server]\nmodel = "/a.gguf"\n');
    expect(p).toMatchObject({ path: ['instance', 'a', 'control', 'restart_backoff_initial'], line: 2, kind: 'semantic' });
  });

  it('daemon_log = false without a log file: the output would go nowhere, reported at daemon_log with what to do', () => {
    const shared = one('[instance.control]\nlog_dir = ""\ndaemon_log = false\n[instance.a.server]\nmodel = "/a.gguf"\n');
    expect(shared).toMatchObject({ path: ['instance', 'control', 'daemon_log'], line: 3, kind: 'semantic', instance: 'a' });
    expect(formatProblem(shared)).toBe(
      'test.toml:3:1 instance.control.daemon_log: daemon_log = false and no log file (log_dir = ""): the instance\'s output would be written nowhere (expected a log_file or log_dir, or daemon_log = true)',
    );
    const own = one('[instance.control]\ndaemon_log = false\n[instance.a.control]\nlog_file = ""\n[instance.a.server]\nmodel = "/a.gguf"\n');
    expect(own).toMatchObject({ path: ['instance', 'control', 'daemon_log'], line: 2 });
    expect(own.message).toContain('(log_file = "")');
    // per instance: the instance's own key is named
    expect(one('[instance.a.control]\nlog_dir = ""\ndaemon_log = false\n[instance.a.server]\nmodel = "/a.gguf"\n')).toMatchObject({ path: ['instance', 'a', 'control', 'daemon_log'], line: 3 });
  });
});

describe('many problems, one run', () => {
  it('reports schema problems of every table and semantic problems of the sound instances together, in file order', () => {
    const problems = problemsOf(`[master]
enabel = true

[instance.control]
restart = "sometimes"

[instance.a.server]
model = "/a.gguf"
port = 70000

[instance.b.server]
port = 8081

[instance.c.server]
model = "/c.gguf"
port = 8081
`);
    expect(problems.map((p) => `${p.line} ${keyPathString(p.path)}`)).toEqual([
      '2 master.enabel',
      '5 instance.control.restart',
      '9 instance.a.server.port',
      '11 instance.b.server.model',
      '16 instance.c.server.port',
    ]);
  });

  it('a typo in an instance\'s control table does not hide the problems of its server table', () => {
    const problems = problemsOf(`[instance.a.control]
stop_grace = "10s"

[instance.a.server]
port = 8080
extra_args = ["--port", "9000"]

[instance.b.server]
model = "/b.gguf"
port = 8080
`);
    expect(problems.map((p) => `${p.line} ${keyPathString(p.path)}`)).toEqual([
      '2 instance.a.control.stop_grace',
      '4 instance.a.server.model',
      '6 instance.a.server.extra_args',
      '10 instance.b.server.port',
    ]);
  });
});

describe('AUTO_INFER_LLAMA_CPP_OVERRIDES problems', () => {
  const file = '[instance.a.server]\nmodel = "/a.gguf"\nport = 8080\n';

  it('invalid JSON is a config error, not a silent skip', () => {
    const p = one(file, { AUTO_INFER_LLAMA_CPP_OVERRIDES: '{instance: 1' });
    expect(p).toMatchObject({ file: 'AUTO_INFER_LLAMA_CPP_OVERRIDES', line: undefined, kind: 'syntax' });
    expect(formatProblem(p)).toMatch(/^AUTO_INFER_LLAMA_CPP_OVERRIDES: not valid JSON: /);
  });

  it('JSON that is not an object is refused', () => {
    expect(one(file, { AUTO_INFER_LLAMA_CPP_OVERRIDES: '[1,2]' }).message).toMatch(/^not a JSON object/);
  });

  it('a bad value from the overrides is attributed to the variable, not to a line of the file', () => {
    const p = one(file, { AUTO_INFER_LLAMA_CPP_OVERRIDES: '{"instance":{"a":{"server":{"port":"x"}}}}' });
    expect(formatProblem(p)).toBe('AUTO_INFER_LLAMA_CPP_OVERRIDES: instance.a.server.port: wrong type (expected a number, got "x")');
  });

  it('an empty variable means no overrides', () => {
    expect(parse(file, { AUTO_INFER_LLAMA_CPP_OVERRIDES: '  ' }).config).not.toBeNull();
  });
});

describe('hostile input', () => {
  it('__proto__ in the overrides is refused instead of replacing a prototype', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\n', { AUTO_INFER_LLAMA_CPP_OVERRIDES: '{"instance":{"a":{"__proto__":{"server":{"port":1}}}}}' });
    expect(formatProblem(p)).toBe('AUTO_INFER_LLAMA_CPP_OVERRIDES: instance.a.__proto__: key "__proto__" is not allowed (expected config keys only)');
  });

  it('dates, nested tables, lossy integers and absurd nesting are reported, not crashes', () => {
    expect(one('[instance.a.server]\nmodel = "/a.gguf"\nwhen = 1979-05-27\n').message).toContain('got a date (1979-05-27)');
    expect(one('[instance.a.server]\nmodel = "/a.gguf"\nnested = { a = 1 }\n').message).toContain('got a table');
    expect(one('[instance.a.server]\nmodel = "/a.gguf"\nseed = 12345678901234567890\n')).toMatchObject({ kind: 'syntax', line: 3 });
    expect(one(`x = ${'['.repeat(5000)}${']'.repeat(5000)}\n`)).toMatchObject({ kind: 'syntax', line: 1 });
  });
});

describe('secrets in problems', () => {
  it('a mistyped api_key is reported without its value', () => {
    const p = one('[instance.a.server]\nmodel = "/a.gguf"\napi_key = 123456789\n');
    expect(p.message).toBe('wrong type (expected a string, got a number (value not shown))');
    expect(formatProblem(p)).not.toContain('123456789');
    const table = one('[instance.a.server]\nmodel = "/a.gguf"\napi_key = { key = "sk-in-a-table" }\n');
    expect(table.message).toBe('wrong type (expected a string, got a table (value not shown))');
    expect(formatProblem(table)).not.toContain('sk-in-a-table');
  });

  it('api-key written with a dash still goes to the environment, not argv', () => {
    const { config } = parse('[instance.a.server]\nmodel = "/a.gguf"\n"api-key" = "sk-dash-secret"\n');
    expect(config!.instances[0]!.args.join(' ')).not.toContain('sk-dash-secret');
    expect(config!.instances[0]!.env.LLAMA_API_KEY).toBe('sk-dash-secret');
  });
});
