/**
 * Dependencies are chosen, not accumulated: knip fails this test when package.json declares a
 * dependency nothing imports, when code imports one package.json does not declare, or when a
 * file under src/ or bench/ is reached by nothing.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));

describe('dependencies', () => {
  it('knip finds no unused or unlisted dependency and no unused file', async () => {
    const knip = path.join(repo, 'node_modules/.bin/knip');
    const run = await promisify(execFile)(knip, ['--include', 'dependencies,unlisted,files', '--reporter', 'compact', '--no-progress'], { cwd: repo }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    expect(run.stdout.trim(), 'knip found unused or unlisted dependencies or unused files').toBe('');
    expect(run.code).toBe(0);
  }, 120_000);
});
