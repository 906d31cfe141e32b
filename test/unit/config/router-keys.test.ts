import { describe, expect, it } from 'vitest';

import { keyPathString } from '../../../src/config/problem.js';
import { parse, parseOk } from './helpers.js';

const TWO = `
[instance.a.server]
model = "/m/a.gguf"
port = 8081
parallel = 2
alias = "qwen"
[instance.b.server]
model = "/m/b.gguf"
port = 8082
`;

describe('router keys', () => {
  it('a config without [router] gives the same instances as before, routing keys or not', () => {
    const plain = parseOk(TWO);
    const withKeys = parseOk(`${TWO}\n[instance.b.control]\non_demand = true\nttl = "5m"\n`);
    expect(plain.router).toBeUndefined();
    expect(withKeys.router).toBeUndefined();
    expect(withKeys.instances.map((i) => [i.args, i.env, i.enabled, i.fingerprint, i.routing])).toEqual(plain.instances.map((i) => [i.args, i.env, i.enabled, i.fingerprint, undefined]));
  });

  it('reads [router] and the routing keys; on-demand instances are not started at boot', () => {
    const config = parseOk(`
[router]
enable = true
listen = "127.0.0.1:9000"
max_queue = 10
queue_timeout = "2m"
swap_max_wait = "5s"
max_body = "1MiB"
gpu_budget_mb = { "0" = 23500 }
[router.groups.big]
max_running = 1
[instance.control]
ttl = "15m"
${TWO}
[instance.b.control]
on_demand = true
group = "big"
aliases = ["gpt-4o"]
max_concurrency = 3
pinned = true
vram_mb = 21000
gpu_ids = "0"
`);
    expect(config.router).toEqual({
      enable: true,
      host: '127.0.0.1',
      port: 9000,
      maxQueue: 10,
      queueTimeoutMs: 120_000,
      swapMaxWaitMs: 5000,
      maxBodyBytes: 1024 * 1024,
      gpuBudgetMb: { '0': 23500 },
      warmup: true,
      loadingHeartbeatMs: 0,
      groups: { big: { maxRunning: 1 } },
      ollama: true,
      ollamaListen: undefined,
    });
    const [a, b] = config.instances;
    expect(a!.enabled).toBe(true);
    expect(a!.routing).toMatchObject({ onDemand: false, ttlMs: 900_000, maxConcurrency: 2, maxQueue: 10, serverAlias: 'qwen', gpus: ['*'] });
    expect(b!.enabled).toBe(false);
    expect(b!.routing).toMatchObject({ onDemand: true, group: 'big', aliases: ['gpt-4o'], maxConcurrency: 3, pinned: true, vramMb: 21000, gpus: ['0'], ttlMs: 900_000 });
  });

  it('refuses a model id that maps to two instances and an undefined group', () => {
    const { problems } = parse(`
[router]
enable = true
${TWO}
[instance.b.control]
aliases = ["qwen"]
group = "nope"
`);
    expect(problems.map((p) => `${p.line} ${keyPathString(p.path)}: ${p.message}`)).toEqual([
      expect.stringMatching(/instance\.b\.control\.aliases: model id "qwen" already routes to instance "a"/),
      expect.stringMatching(/instance\.b\.control\.group: group "nope" is not defined \(expected a \[router\.groups\.nope\] table/),
    ]);
  });

  it('points at a typo in [router] with the usual schema problem', () => {
    const { problems } = parse(`[router]\nenable = true\nlisten = "8000"\nmax_body = "lots"\n${TWO}`);
    expect(problems.map((p) => `${p.line}:${p.column} ${keyPathString(p.path)}`)).toEqual(['3:1 router.listen', '4:1 router.max_body']);
  });
});
