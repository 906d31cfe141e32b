/**
 * What `podman inspect` says about the built image, against what the image README and the Dockerfile
 * promise; and what the build left (or must not leave) inside it.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { IMAGE_README } from '../dockers/support.js';
import { imageEngine } from './support/container.js';
import { CommandError, type Engine } from './support/engine.js';

interface ImageConfig {
  User: string;
  ExposedPorts: Record<string, unknown>;
  Env: string[];
  Entrypoint: string[];
  Cmd?: string[] | null;
  Volumes: Record<string, unknown>;
  WorkingDir: string;
  Labels: Record<string, string>;
  StopSignal: string;
}
interface Health {
  Test: string[];
  Interval: number;
  Timeout: number;
  StartPeriod: number;
  Retries: number;
}

const README = readFileSync(IMAGE_README, 'utf8');
const S = 1e9;

describe('the built image, as podman inspect shows it', () => {
  let e: Engine;
  const inspect = async <T>(image: string, format: string): Promise<T> => JSON.parse(await e.podman(['image', 'inspect', '--format', `{{json ${format}}}`, image])) as T;
  /** A command in a throwaway container of the image (as its user unless `user` is given). */
  const inImage = async (image: string, script: string, user?: string): Promise<{ code: number; out: string }> => {
    const args = ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', ...(user ? ['--user', user] : []), image, '-c', script];
    try {
      return { code: 0, out: await e.podman(args) };
    } catch (err) {
      if (err instanceof CommandError && err.status !== null) return { code: err.status, out: err.stdout + err.stderr };
      throw err;
    }
  };

  beforeAll(() => {
    e = imageEngine();
  });

  it('entrypoint tini → infer-entry boot, no CMD, root by default and infer with RUN_AS=infer', async () => {
    const root = await inspect<ImageConfig>(inject('image').rootImage, '.Config');
    expect(root.Entrypoint).toEqual(['tini', '--', 'infer-entry', 'boot', '--']);
    expect(root.Cmd ?? []).toEqual([]);
    expect(root.User).toBe('root');
    expect(root.StopSignal).toBe('SIGTERM');
    expect(root.WorkingDir).toBe('/soft/app');
    expect(root.Env).toContain('INFER_ENTRY_ROOT=/soft/app');
    expect((await inspect<ImageConfig>(inject('image').nonRootImage, '.Config')).User).toBe('infer');
    expect(README).toContain('PID 1 is `tini` → `infer-entry boot`');
  });

  it('exposes 8080 and 9464, declares the cache and models volumes, carries the OCI labels', async () => {
    const c = await inspect<ImageConfig>(inject('image').rootImage, '.Config');
    expect(Object.keys(c.ExposedPorts).sort()).toEqual(['8080/tcp', '9464/tcp']);
    expect(README).toContain('`EXPOSE 8080 9464`');
    expect(Object.keys(c.Volumes).sort()).toEqual(['/models', '/soft/app/cache']);
    expect(c.Labels).toMatchObject({ 'org.opencontainers.image.title': 'infer-dev', 'org.opencontainers.image.licenses': 'MIT', 'org.opencontainers.image.version': '0.1.0' });
  });

  it('keeps the HEALTHCHECK (built with --format docker): infer-entry health, 10 s interval, 10 min start period', async () => {
    const h = await inspect<Health>(inject('image').rootImage, '.HealthCheck');
    expect(h.Test).toEqual(['CMD-SHELL', 'infer-entry health -q || exit 1']);
    expect([h.Interval / S, h.Timeout / S, h.StartPeriod / S, h.Retries]).toEqual([10, 5, 600, 3]);
    expect(README).toContain('--format docker');
  });

  it('the shims are root-owned and read-only to the runtime user; /soft/app (cache, run) is its own', async () => {
    const image = inject('image').nonRootImage;
    const owners = await inImage(image, 'stat -c "%U %a %n" /soft/app /soft/app/cache /soft/app/run /soft/app/shims /soft/app/shims/*.sh');
    expect(owners.code).toBe(0);
    expect(owners.out.trim().split('\n')).toEqual([
      'infer 755 /soft/app',
      'infer 755 /soft/app/cache',
      'infer 755 /soft/app/run',
      'root 755 /soft/app/shims',
      'root 755 /soft/app/shims/check-and-run-llama-cpp.sh',
      'root 755 /soft/app/shims/infer-dev-entry.sh',
      'root 755 /soft/app/shims/install-llama-cpp-pkg.sh',
    ]);
    const replace = await inImage(image, 'echo "echo pwned" > /soft/app/shims/check-and-run-llama-cpp.sh || rm -f /soft/app/shims/check-and-run-llama-cpp.sh');
    expect(replace.code).not.toBe(0);
    expect(replace.out).toMatch(/Permission denied/);
  });

  it('no apt caches and no build secrets in the image', async () => {
    const left = await inImage(inject('image').rootImage, 'ls -A /var/cache/apt/archives /var/lib/apt/lists | grep -v -e "^partial$" -e "^lock$" -e ":$" -e "^$"; ls -A /run/secrets /root/.npmrc 2>/dev/null; env | grep -i -e NODE_EXTRA_CA_CERTS -e NPM_CONFIG; true');
    expect(left.out.trim()).toBe('');
    const size = Number(await e.podman(['image', 'inspect', '--format', '{{.Size}}', inject('image').rootImage]));
    const documented = /Size: the CPU image[^]*?(\d+) MB/.exec(README);
    expect(documented, 'the image README records the size of the CPU image').not.toBeNull();
    expect(Math.abs(size / 1e6 - Number(documented![1])), `built: ${Math.round(size / 1e6)} MB`).toBeLessThan(25);
  });
});
