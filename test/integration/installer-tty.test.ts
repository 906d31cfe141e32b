/**
 * The byte progress indicator on a real terminal: the CLI runs under
 * script(1) (bsdutils), which gives it a pseudo-terminal, so stderr.isTTY is
 * really true — no faked stream.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { layoutEntries, writeArchive } from '../fixtures/installer/archive-builder.js';
import { MAIN, assertBuilt } from '../fixtures/installer/run-cli.js';
import { tempRoot, type TempRoot } from '../fixtures/installer/temp-root.js';

function requireScript(): void {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('script(1) is missing: install the Debian package bsdutils (apt-get install bsdutils)');
  }
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run the CLI on a pseudo-terminal; returns its exit code and what the terminal showed (\r\n → \n). */
function onTty(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; screen: string }> {
  assertBuilt();
  const command = [process.execPath, MAIN, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    execFile('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...env, INFER_ENTRY_LOG_FORMAT: 'json' }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      const e = error as (Error & { code?: number }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, screen: stdout.replace(/\r\n/g, '\n') });
    });
  });
}

/** The terminal's visible lines: each `\r` redraw keeps only what follows it. */
const visibleLines = (screen: string): string[] => screen.split('\n').map((l) => l.slice(l.lastIndexOf('\r') + 1).replace(/\x1b\[K/g, ''));

let t: TempRoot;
beforeEach(async () => {
  requireScript();
  t = await tempRoot();
});
afterEach(async () => {
  await t.cleanup();
});

describe('progress indicator on a TTY', () => {
  it('a zip: shows the extraction reaching 100% on its own line', async () => {
    const files = layoutEntries('documented');
    files.push({ type: 'file', path: 'bin/libbig.so', content: randomBytes(3 * 1024 * 1024) });
    const pkg = await writeArchive(path.join(t.dir, 'llama.zip'), 'zip', files);
    const { code, screen } = await onTty(['install', '--pkg', pkg], t.env);
    expect(code, screen).toBe(0);
    const lines = visibleLines(screen);
    // extracted during the copy, or (an archive written moments ago) from the cached copy after it
    expect(lines.some((l) => /^(hash\+copy\+)?extract: .* \(100%\)$/.test(l)), screen).toBe(true);
    expect(lines.some((l) => l.startsWith('installed: llama.zip')), screen).toBe(true);
  });

  it('a tar.gz, copied, hashed and extracted in one read: one line reaching 100%', async () => {
    const files = layoutEntries('documented');
    files.push({ type: 'file', path: 'bin/libbig.so', content: randomBytes(3 * 1024 * 1024) });
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar.gz'), 'tar.gz', files);
    const { code, screen } = await onTty(['install', '--pkg', pkg], t.env);
    expect(code, screen).toBe(0);
    const lines = visibleLines(screen);
    expect(lines.some((l) => /^hash\+copy\+extract: .* \(100%\)$/.test(l)), screen).toBe(true);
    expect(lines.some((l) => /^(hash\+copy|extract): /.test(l)), screen).toBe(false);
    expect(lines.some((l) => l.startsWith('installed: llama.tar.gz')), screen).toBe(true);
  });

  it('a failure in the middle of the extraction prints its error on a line of its own, not glued to the progress line', async () => {
    // a hostile entry between two large files: the extraction stops well before 100%
    const files = layoutEntries('documented');
    // past the first 4 MiB read, so the progress line is drawn before the failure
    files.push({ type: 'file', path: 'bin/liba.so', content: randomBytes(6 * 1024 * 1024) });
    files.push({ type: 'file', path: '../evil', content: 'x' });
    files.push({ type: 'file', path: 'bin/libb.so', content: randomBytes(6 * 1024 * 1024) });
    const pkg = await writeArchive(path.join(t.dir, 'llama.tar'), 'tar', files);
    const { code, screen } = await onTty(['install', '--pkg', pkg], t.env);
    expect(code, screen).toBe(65);
    const lines = visibleLines(screen);
    expect(lines.some((l) => /^hash\+copy\+extract: .* \(\d+%\)$/.test(l) && !l.includes('(100%)')), screen).toBe(true);
    expect(lines.some((l) => l.startsWith('infer-entry install: archive entry "../evil"')), screen).toBe(true);
  });
});
