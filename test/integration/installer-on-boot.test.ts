import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installOnBoot, readInstalledMarker } from '../../src/installer/index.js';
import { createLogger, type Logger } from '../../src/log.js';
import { layoutEntries, writeArchive } from '../fixtures/installer/archive-builder.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

let t: TempRoot;
beforeEach(async () => {
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

function capture(): { log: Logger; lines: () => { level: number; msg: string; step: string }[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      out.push(String(c));
      cb();
    },
  });
  return { log: createLogger({ destination: stream, pretty: false, base: { step: 'boot' } }), lines: () => out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

describe('installOnBoot (AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT / _PKG_PATH)', () => {
  for (const value of [undefined, '', '0', 'false', 'FALSE']) {
    it(`skips with one log line saying why when the switch is ${JSON.stringify(value)}`, async () => {
      const { log, lines } = capture();
      const env = { ...t.env, AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: value };
      if (value === undefined) delete env.AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT;
      expect(await installOnBoot({ env, paths: t.paths, log })).toBeNull();
      expect(lines()).toHaveLength(1);
      expect(lines()[0]!.msg).toContain('AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT');
      expect(lines()[0]!.step).toBe('install');
    });
  }

  it('warns about an unrecognised value, naming it, and skips', async () => {
    const { log, lines } = capture();
    expect(await installOnBoot({ env: { ...t.env, AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: 'ture' }, paths: t.paths, log })).toBeNull();
    expect(lines().some((l) => l.level === 40 && l.msg.includes('"ture"'))).toBe(true);
  });

  it('installs with 1|true (any case) from AUTO_INFER_LLAMA_CPP_PKG_PATH', async () => {
    const pkg = await writeArchive(path.join(t.dir, 'llama.zip'), 'zip', layoutEntries('build-bin'));
    const outcome = await installOnBoot({ env: { ...t.env, AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: 'True', AUTO_INFER_LLAMA_CPP_PKG_PATH: pkg }, paths: t.paths, log: capture().log });
    expect(outcome?.status).toBe('installed');
    expect((await readInstalledMarker(t.paths))?.sha256).toBe(outcome?.sha256);
  });

  it('enabled without a package path is a missing-input error (66)', async () => {
    const env: NodeJS.ProcessEnv = { ...t.env, AUTO_INFER_LLAMA_CPP_GET_PKG_ON_BOOT: "1" };
    delete env.AUTO_INFER_LLAMA_CPP_PKG_PATH;
    await expect(installOnBoot({ env, paths: t.paths, log: capture().log })).rejects.toMatchObject({ exitCode: 66, code: 'E_PKG_PATH_UNSET' });
  });
});
