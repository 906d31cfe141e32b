/**
 * LLAMA_ARG_HOST / LLAMA_ARG_PORT in the instance's environment replace the defaults infer-entry
 * would pass (argv and probe address); the config wins over them with one warning naming both.
 */
import { describe, expect, it } from 'vitest';
import { argWarnings, describeOrigin } from '../../../src/config/llama-arg-env.js';
import { parse, parseOk } from './helpers.js';

const MODEL = 'model = "/m.gguf"\n';
const one = (server = '') => `[instance.a.server]\n${MODEL}${server}`;

describe('LLAMA_ARG_* for the flags infer-entry passes by default', () => {
  it('without the variables: llama-server\'s own defaults, said to be defaults', () => {
    const [a] = parseOk(one()).instances;
    expect(a!.args).toEqual(['--model', '/m.gguf', '--host', '127.0.0.1', '--port', '8080']);
    expect(a!.argOrigins!.map(describeOrigin)).toEqual(['host 127.0.0.1 by default (LLAMA_ARG_HOST not set)', 'port 8080 by default (LLAMA_ARG_PORT not set)']);
  });

  it('the variables replace the defaults on the command line and where the probes go', () => {
    const [a] = parseOk(one(), { LLAMA_ARG_HOST: '0.0.0.0', LLAMA_ARG_PORT: '9000' }).instances;
    expect(a!.args).toEqual(['--model', '/m.gguf', '--host', '0.0.0.0', '--port', '9000']);
    expect(a).toMatchObject({ host: '0.0.0.0', probeHost: '127.0.0.1', port: 9000 });
    expect(a!.argOrigins!.map(describeOrigin)).toEqual(['host 0.0.0.0 from LLAMA_ARG_HOST', 'port 9000 from LLAMA_ARG_PORT']);
  });

  it('the config wins over a variable, and exactly one warning per flag names both values', () => {
    const config = parseOk(one('port = 8085\n'), { LLAMA_ARG_PORT: '9000', LLAMA_ARG_HOST: '127.0.0.2' });
    const [a] = config.instances;
    expect(a!.args).toEqual(['--model', '/m.gguf', '--port', '8085', '--host', '127.0.0.2']);
    expect(a!.port).toBe(8085);
    const warnings = argWarnings(config.instances);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ instance: 'a', variable: 'LLAMA_ARG_PORT' });
    expect(warnings[0]!.message).toContain('port = 8085');
    expect(warnings[0]!.message).toContain('LLAMA_ARG_PORT=9000');
    expect(describeOrigin(a!.argOrigins![1]!)).toBe('port 8085 from the config (LLAMA_ARG_PORT=9000 ignored)');
  });

  it('--host/--port in extra_args win over the variables the same way', () => {
    const config = parseOk(one('extra_args = ["--host", "127.0.0.4"]\n'), { LLAMA_ARG_HOST: '0.0.0.0' });
    const [a] = config.instances;
    expect(a!.args.filter((x) => x === '--host')).toHaveLength(1);
    expect(a!.host).toBe('127.0.0.4');
    expect(argWarnings(config.instances).map((w) => w.message)).toEqual([expect.stringContaining('--host 127.0.0.4 in extra_args wins over LLAMA_ARG_HOST=0.0.0.0')]);
  });

  it('no warning when the config and the variable agree, or the variable is empty', () => {
    expect(argWarnings(parseOk(one('port = 9000\n'), { LLAMA_ARG_PORT: '9000' }).instances)).toEqual([]);
    const config = parseOk(one(), { LLAMA_ARG_HOST: '', LLAMA_ARG_PORT: ' ' });
    expect(config.instances[0]).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(argWarnings(config.instances)).toEqual([]);
  });

  it('a LLAMA_ARG_PORT that is not a port is a problem naming the variable', () => {
    const { config, problems } = parse(one(), { LLAMA_ARG_PORT: 'http' });
    expect(config).toBeNull();
    expect(problems).toEqual([expect.objectContaining({ path: ['instance', 'a', 'server', 'port'], message: expect.stringContaining('LLAMA_ARG_PORT="http"') })]);
  });

  it('two instances without ports under one LLAMA_ARG_PORT clash, as two llama-servers would', () => {
    const { problems } = parse(`${one()}[instance.b.server]\n${MODEL}`, { LLAMA_ARG_PORT: '9000' });
    expect(problems.map((p) => p.message).join('\n')).toMatch(/port 9000 .*already used by instance "a"/);
  });

  it('other LLAMA_ARG_* variables are none of its business: nothing added to argv or env', () => {
    const [a] = parseOk(one(), { LLAMA_ARG_CTX_SIZE: '4096', LLAMA_ARG_N_GPU_LAYERS: '99' }).instances;
    expect(a!.args.join(' ')).not.toMatch(/ctx|gpu/);
    expect(Object.keys(a!.env)).not.toContain('LLAMA_ARG_CTX_SIZE');
    expect(a!.envRemove).not.toContain('LLAMA_ARG_CTX_SIZE');
  });

  describe("the instance's env table [instance.NAME.env]", () => {
    it('sets variables for that instance only; its LLAMA_ARG_PORT beats the container\'s and replaces the default', () => {
      const text = `${one()}[instance.a.env]\nLLAMA_ARG_PORT = 9001\nGGML_SCHED = "x"\n[instance.b.server]\n${MODEL}`;
      const [a, b] = parseOk(text, { LLAMA_ARG_PORT: '9000' }).instances;
      expect(a).toMatchObject({ port: 9001, env: { LLAMA_ARG_PORT: '9001', GGML_SCHED: 'x' } });
      expect(a!.args.slice(-2)).toEqual(['--port', '9001']);
      expect(describeOrigin(a!.argOrigins![1]!)).toBe("port 9001 from LLAMA_ARG_PORT in the instance's env table");
      expect(b).toMatchObject({ port: 9000 });
      expect(b!.env).not.toHaveProperty('GGML_SCHED');
    });

    it('the server table still wins, with the warning naming the env table', () => {
      const config = parseOk(`${one('port = 8085\n')}[instance.a.env]\nLLAMA_ARG_PORT = "9001"\n`);
      expect(config.instances[0]!.port).toBe(8085);
      expect(argWarnings(config.instances).map((w) => w.message)).toEqual([expect.stringContaining("wins over LLAMA_ARG_PORT=9001 from the instance's env table")]);
    });

    it('a bad variable name is a problem at its key; credentials in it are redacted like api_key', () => {
      const { problems } = parse(`${one()}[instance.a.env]\n"1BAD" = "x"\n`);
      expect(problems).toEqual([expect.objectContaining({ path: ['instance', 'a', 'env', '1BAD'], line: 4, message: expect.stringContaining('is not a variable name') })]);
      const [a] = parseOk(`${one()}[instance.a.env]\nOPENAI_API_KEY = "sk-env-secret"\n`).instances;
      expect(a!.secrets).toContain('sk-env-secret');
    });
  });
});
