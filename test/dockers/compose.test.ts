/**
 * The compose files: valid against the Compose specification schema (bundled with dclint),
 * dclint-clean, and consistent with the image and the example config (published ports = instance
 * ports, the config file is mounted where the env points, health check and stop grace are sound,
 * the overlays wire GPUs and a client app that waits for health).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import {
  COMPOSE_DIR,
  COMPOSE_FILES,
  DOCKERFILE,
  INSTANCE_STOP_GRACE_S,
  REPO,
  dockerfileInstructions,
  durationSeconds,
  healthcheck,
  interpolateDefaults,
  loadYaml,
  read,
  runtimeStage,
} from './support.js';

const require = createRequire(import.meta.url);
const composeSchemaFile = path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json');

function composeValidator() {
  const schema = JSON.parse(read(composeSchemaFile)) as Record<string, unknown>;
  delete schema.$schema; // draft-07 under an https URL ajv does not know by that name
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  return ajv.compile(schema);
}

/** The YAML as compose sees it with no host variables set: every `${VAR:-default}` replaced. */
function interpolated(value: unknown): unknown {
  if (typeof value === 'string') return interpolateDefaults(value);
  if (Array.isArray(value)) return value.map(interpolated);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolated(v)]));
  return value;
}

const [baseFile, gpuFile, appFile] = COMPOSE_FILES as [string, string, string];
const base = interpolated(loadYaml(baseFile)) as any;
const service = base.services['infer-dev'];
const env = service.environment as Record<string, string>;

/** host path → container path of the service's bind mounts (relative to the compose file). */
function mounts(): { source: string; target: string; volume: boolean }[] {
  return (service.volumes as string[]).map((v) => {
    const [source, target] = v.split(':') as [string, string];
    const volume = !source.startsWith('.') && !source.startsWith('/');
    return { source: volume ? source : path.resolve(COMPOSE_DIR, source), target, volume };
  });
}

/** Where a container path comes from on the host, through the bind mounts. */
function hostPath(containerPath: string): string | undefined {
  const mount = mounts().find((m) => !m.volume && (containerPath === m.target || containerPath.startsWith(`${m.target}/`)));
  return mount ? path.join(mount.source, path.relative(mount.target, containerPath)) : undefined;
}

describe('compose files', () => {
  const validate = composeValidator();

  it.each(COMPOSE_FILES.map((f) => [path.basename(f), f]))('%s is valid against the Compose specification, raw and interpolated', (_name, file) => {
    for (const doc of [loadYaml(file), interpolated(loadYaml(file))]) {
      const ok = validate(doc);
      expect(validate.errors ?? [], JSON.stringify(validate.errors)).toEqual([]);
      expect(ok).toBe(true);
    }
  });

  it('the schema is live: a misspelt key and a bad restart policy are refused', () => {
    const doc = loadYaml(baseFile);
    doc.services['infer-dev'].helthcheck = doc.services['infer-dev'].healthcheck;
    expect(validate(doc)).toBe(false);
    const doc2 = loadYaml(baseFile);
    doc2.services['infer-dev'].healthcheck.interval = 10;
    expect(validate(doc2)).toBe(false);
  });

  it('dclint reports nothing', () => {
    const bin = path.join(path.dirname(require.resolve('dclint/package.json')), 'bin/dclint.cjs');
    const result = spawnSync(process.execPath, [bin, '-f', 'json', '--color', 'false', ...COMPOSE_FILES], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    const reports = JSON.parse(result.stdout) as { filePath: string; messages: { message: string; rule: string }[] }[];
    expect(reports.map((r) => path.basename(r.filePath)).sort()).toEqual(COMPOSE_FILES.map((f) => path.basename(f)).sort());
    expect(reports.flatMap((r) => r.messages.map((m) => `${r.filePath}: ${m.message}`))).toEqual([]);
    expect(result.status).toBe(0);
  });

  it('publishes exactly the ports of the instances in the mounted config', () => {
    const configHost = hostPath(env.AUTO_INFER_LLAMA_CPP_CONFIG!);
    expect(configHost, 'AUTO_INFER_LLAMA_CPP_CONFIG is under a bind mount').toBeDefined();
    expect(existsSync(configHost!), configHost).toBe(true);
    const toml = parseToml(read(configHost!)) as any;
    const instancePorts = Object.entries(toml.instance as Record<string, any>)
      .filter(([name]) => name !== 'control' && name !== 'server')
      .map(([, inst]) => Number(inst.server.port))
      .sort();
    const published = (service.ports as string[]).map((p) => Number(p.split(':').at(-1))).sort();
    expect(published).toEqual(instancePorts);
    for (const p of service.ports as string[]) expect(p, 'bound to loopback by default').toMatch(/^127\.0\.0\.1:/);
    expect(toml.instance.server.host, 'instances listen on all interfaces so published ports reach them').toBe('0.0.0.0');
  });

  it('installs and serves on boot from mounted paths, keeps the cache in a volume', () => {
    expect(env.AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT).toBe('1');
    expect(env.AUTO_INFER_LLAMA_CPP_ON_BOOT).toBe('1');
    expect(hostPath(env.AUTO_INFER_LLAMA_CPP_PKG_PATH!), 'the archive comes from a bind mount').toBeDefined();
    const cache = mounts().find((m) => m.target === '/soft/app/cache');
    expect(cache?.volume).toBe(true);
    expect(Object.keys(base.volumes)).toContain(cache!.source);
    expect(mounts().find((m) => m.target === '/models')).toBeDefined();
  });

  it('health check asks the daemon; stop grace and restart policy suit a supervisor', () => {
    // the same command as the image's HEALTHCHECK (which the rehearsal runs)
    const image = healthcheck(runtimeStage(dockerfileInstructions(read(DOCKERFILE))));
    expect(service.healthcheck.test).toEqual(['CMD-SHELL', image.command.at(-1)]);
    expect(service.healthcheck.test.join(' ')).toMatch(/\binfer-entry health\b/);
    expect(durationSeconds(service.healthcheck.start_period)).toBeGreaterThanOrEqual(300);
    expect(durationSeconds(service.stop_grace_period)).toBeGreaterThan(INSTANCE_STOP_GRACE_S);
    expect(service.restart).toBe('unless-stopped');
  });

  it('the GPU overlay reserves NVIDIA devices for infer-dev', () => {
    const devices = (loadYaml(gpuFile) as any).services['infer-dev'].deploy.resources.reservations.devices;
    expect(devices).toEqual([expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] })]);
  });

  it('the app overlay waits for infer-dev to be healthy and points at an instance port', () => {
    const app = (interpolated(loadYaml(appFile)) as any).services.app;
    expect(app.depends_on['infer-dev'].condition).toBe('service_healthy');
    const url = new URL(app.environment.LLAMACPP__BASE_URL);
    expect(url.hostname).toBe('infer-dev');
    expect((service.ports as string[]).map((p) => p.split(':').at(-1))).toContain(url.port);
    expect(url.pathname).toBe('/v1');
    // the shell-based image's overlays named the model the client asks for LLAMACPP__MODEL_NAME;
    // it must be an alias an instance behind that port answers to
    const config = parseToml(read(path.join(COMPOSE_DIR, 'config/instances.toml'))) as { instance: Record<string, { server?: { port?: number; alias?: string } }> };
    const onPort = Object.values(config.instance).find((i) => String(i.server?.port) === url.port);
    expect(onPort?.server?.alias, `the alias of the instance on port ${url.port}`).toBe(app.environment.LLAMACPP__MODEL_NAME);
    expect(app.environment.OPENAI_API_BASE_URL).toBe(app.environment.LLAMACPP__BASE_URL);
  });
});
