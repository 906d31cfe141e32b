/**
 * The image definition: lint-clean, and the contract users and the docs rely on (tini as PID 1 in
 * front of `infer-entry boot --`, a health check that asks the daemon, the volumes and port, labels,
 * `check-and-run` on PATH, no secrets baked in, only files that exist copied).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SUPERVISION } from '../../src/config/defaults.js';
import {
  DOCKERFILE,
  DOCKER_STOP_TIMEOUT_S,
  INSTANCE_STOP_GRACE_S,
  REPO,
  SHIMS,
  SHIMS_DIR,
  dockerfileEnv,
  dockerfileInstructions,
  durationSeconds,
  execForm,
  healthcheck,
  only,
  read,
  runtimeStage,
} from './support.js';

const text = read(DOCKERFILE);
const all = dockerfileInstructions(text);
const runtime = runtimeStage(all);

describe('dockers/infer-dev/Dockerfile', () => {
  it('passes the dockerfile-utils linter', () => {
    const problems = validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it('the linter is live: a broken copy of the file is flagged', () => {
    for (const [from, to] of [
      ['--interval=10s', '--interval=10parsecs'],
      ['--start-period=', '--start-perio='],
      ['EXPOSE 8080', 'EXPOSE 8080/sctpx'],
    ]) {
      expect(text).toContain(from);
      expect(validate(text.replace(from!, to!)).length, to).toBeGreaterThan(0);
    }
  });

  it('builds from an overridable base image with a build stage installing with npm', () => {
    expect(all.find((i) => i.keyword === 'ARG' && i.args.startsWith('BASE_IMAGE='))).toBeDefined();
    expect(only(runtime, 'FROM').args).toMatch(/^\$\{BASE_IMAGE\}/);
    expect(all.some((i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(i.args))).toBe(true);
  });

  it('runs tini → infer-entry boot as PID 1, with an empty default CMD that resets the base image one', () => {
    expect(execForm(only(runtime, 'ENTRYPOINT').args)).toEqual(['tini', '--', 'infer-entry', 'boot', '--']);
    expect(execForm(only(runtime, 'CMD').args)).toEqual([]);
    expect(only(runtime, 'STOPSIGNAL').args).toBe('SIGTERM');
    expect(runtime.some((i) => i.keyword === 'RUN' && /apt-get install[^&]*\btini\b/.test(i.args))).toBe(true);
  });

  it('has a HEALTHCHECK asking the daemon, with a start period long enough to load a model', () => {
    const { flags, command } = healthcheck(runtime);
    expect(command.join(' ')).toMatch(/\binfer-entry health\b/);
    expect(durationSeconds(flags['start-period']!)).toBeGreaterThanOrEqual(300);
    expect(durationSeconds(flags.timeout!)).toBeLessThan(durationSeconds(flags.interval!));
  });

  it('declares the cache and models volumes, the server port, OCI labels and the install root', () => {
    const volumes = runtime.filter((i) => i.keyword === 'VOLUME').flatMap((i) => execForm(i.args));
    expect(volumes).toEqual(expect.arrayContaining(['/soft/app/cache', '/models']));
    expect(runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/))).toContain('8080');
    const labels = runtime.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'source', 'licenses', 'version']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    expect(dockerfileEnv(runtime).INFER_ENTRY_ROOT).toBe('/soft/app');
  });

  it('puts infer-entry and check-and-run on PATH and ships every shim to the shims directory', () => {
    const runs = runtime.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
    expect(runs).toContain('ln -s /opt/infer-entry/dist/src/main.js /usr/local/bin/infer-entry');
    expect(runs).toContain('ln -s /soft/app/shims/check-and-run-llama-cpp.sh /usr/local/bin/check-and-run');
    // the shell-based image's entrypoint path, for `--entrypoint /entrypoint.sh` written for it
    expect(runs).toContain('ln -s /soft/app/shims/infer-dev-entry.sh /entrypoint.sh');
    const copy = runtime.find((i) => i.keyword === 'COPY' && i.args.includes(path.relative(REPO, SHIMS_DIR)));
    expect(copy?.args).toMatch(/--chmod=0?755 .*\/soft\/app\/shims\/$/);
    expect(readdirSync(SHIMS_DIR).filter((f) => f.endsWith('.sh')).sort()).toEqual([...SHIMS].sort());
  });

  it('copies from the build context only files that exist, and the .dockerignore lets them through', () => {
    const ignore = read(`${DOCKERFILE}.dockerignore`);
    for (const ins of all.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))) {
      const sources = ins.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const source of sources) {
        const base = source.replace(/\/?\*\.sh$/, '');
        expect(existsSync(path.join(REPO, base)), `COPY source ${source} (line ${ins.line})`).toBe(true);
        const allowed = ignore.split('\n').some((l) => l.startsWith('!') && (l.slice(1) === source || l.slice(1).replace(/\/$/, '') === source.replace(/\/$/, '')));
        expect(allowed, `${source} is excluded by Dockerfile.dockerignore`).toBe(true);
      }
    }
  });

  it('offers a non-root user that owns /soft/app', () => {
    expect(all.some((i) => i.keyword === 'ARG' && i.args === 'RUN_AS=root')).toBe(true);
    expect(only(runtime, 'USER').args).toBe('${RUN_AS}');
    expect(runtime.some((i) => i.keyword === 'RUN' && /useradd .*\binfer\b/.test(i.args) && /chown -R infer:infer \/soft\/app/.test(i.args))).toBe(true);
  });

  it('fails the build at a failed npm install, takes the CA and .npmrc only as build secrets, cleans apt in its layer', () => {
    const install = all.find((i) => i.keyword === 'RUN' && /\bnpm install\b/.test(i.args))!;
    expect(install.args).toMatch(/npm install [^&]*&& npm ls\b/);
    expect(install.args).toContain('--mount=type=secret,id=ca');
    expect(install.args).toContain('--mount=type=secret,id=npmrc');
    expect(all.filter((i) => /secrets\/|\.npmrc|NODE_EXTRA_CA_CERTS/.test(i.args)).map((i) => i.keyword)).toEqual(['RUN']);
    const apt = runtime.find((i) => i.keyword === 'RUN' && /apt-get install/.test(i.args))!;
    expect(apt.args).toMatch(/apt-get install[^]*&& apt-get clean[^]*rm -rf \/var\/lib\/apt\/lists/);
  });

  it('keeps the shims root-owned: their directory is made after the chown of /soft/app', () => {
    const run = runtime.find((i) => i.keyword === 'RUN' && /chown -R infer:infer \/soft\/app/.test(i.args))!.args;
    expect(run.indexOf('mkdir -m 0755 /soft/app/shims')).toBeGreaterThan(run.indexOf('chown -R infer:infer /soft/app'));
    expect(runtime.find((i) => i.keyword === 'COPY' && i.args.includes('/soft/app/shims/'))?.args).not.toMatch(/--chown/);
  });

  it('bakes in no secrets', () => {
    const names = [...Object.keys(dockerfileEnv(runtime)), ...all.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=')[0]!)];
    expect(names.filter((n) => /KEY|TOKEN|SECRET|PASSWORD/i.test(n))).toEqual([]);
    expect(text).not.toMatch(/hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9]{20,}/);
  });

  it("keeps the instances' default stop grace below docker stop's timeout", () => {
    expect(DEFAULT_SUPERVISION.stopGraceMs / 1000).toBe(INSTANCE_STOP_GRACE_S);
    expect(INSTANCE_STOP_GRACE_S).toBeLessThan(DOCKER_STOP_TIMEOUT_S);
  });
});
