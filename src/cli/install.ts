/** `infer-entry install [--pkg PATH] [--force] [--verify] [--json]`: install a llama.cpp archive now. */
import type { Command, CommandContext } from './command.js';
import { UsageError } from '../errors.js';
import { ENV, readFlag, readFlagLogged } from '../env.js';
import type { InstallOutcome } from '../installer/index.js';
import { unchangedInstall } from '../installer/unchanged.js';

const pkgOf = (ctx: Pick<CommandContext, 'values' | 'env'>): string | undefined => (ctx.values.pkg as string | undefined) ?? ctx.env[ENV.PKG_PATH];

export const command: Command = {
  name: 'install',
  summary: 'install a llama.cpp package archive into $INFER_ENTRY_ROOT/llama-cpp',
  help: `Usage: infer-entry install [--pkg PATH] [--force] [--verify] [--json]

Install a prebuilt llama.cpp archive (.tar, .tar.gz/.tgz, .zip) into
$INFER_ENTRY_ROOT/llama-cpp (default /soft/app/llama-cpp): copy it to the cache
while hashing it, extract and validate it in a staging directory, run
bin/llama-server --version, then switch the llama-cpp link atomically. The
previous release is kept for 'infer-entry rollback'. Installing an archive whose
sha256 is already installed and intact does nothing; an archive whose device,
inode, size, mtime and ctime are unchanged since it was hashed is not even read
(--verify reads and hashes it anyway).

Options:
  --pkg PATH   the archive (default: $${ENV.PKG_PATH})
  --force      reinstall even if the same archive is installed and intact
  --verify     hash the whole archive even if it looks unchanged since it was hashed
  --json       print the outcome as one JSON object on stdout

Environment:
  ${ENV.PKG_PATH}       archive path when --pkg is not given
  ${ENV.PKG_VERIFY}     1/true: the same as --verify
  ${ENV.PKG_MAX_BYTES}  stop extracting beyond this many bytes (default 32G; K/M/G/T suffixes)
  INFER_ENTRY_ROOT                    install root (default /soft/app)`,
  options: {
    pkg: { type: 'string' },
    force: { type: 'boolean' },
    verify: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  // every container start: an unchanged package, already installed, is answered without the installer or a logger
  async quick(ctx) {
    const pkgPath = pkgOf(ctx);
    const verify = readFlag(ENV.PKG_VERIFY, ctx.env);
    if (!pkgPath || pkgPath.trim() === '' || ctx.values.force === true || ctx.values.verify === true || verify.enabled || verify.warning) return null;
    const unchanged = await unchangedInstall({ pkgPath, paths: ctx.paths, env: ctx.env });
    if (!unchanged) return null;
    await ctx.logLines(unchanged.events);
    report(ctx, unchanged.outcome);
    return 0;
  },
  async run(ctx) {
    const pkgPath = pkgOf(ctx);
    if (!pkgPath || pkgPath.trim() === '') {
      throw new UsageError(`no package given: pass --pkg PATH or set ${ENV.PKG_PATH}`);
    }
    const verify = ctx.values.verify === true || readFlagLogged(ENV.PKG_VERIFY, ctx.log, ctx.env).enabled;
    // the full installer: quick() has already answered an unchanged package without it
    const { installPackage } = await import('../installer/install.js');
    const outcome = await installPackage({ pkgPath, paths: ctx.paths, log: ctx.log, force: ctx.values.force === true, verify, env: ctx.env });
    report(ctx, outcome);
    return 0;
  },
};

function report(ctx: Pick<CommandContext, 'values' | 'paths' | 'stdout'>, outcome: InstallOutcome): void {
  if (ctx.values.json === true) {
    ctx.stdout.write(`${JSON.stringify(outcome)}\n`);
  } else {
    const what = outcome.status === 'installed' ? 'installed' : 'already installed';
    ctx.stdout.write(
      `${what}: ${outcome.archiveName} (${outcome.format}, sha256 ${outcome.sha256.slice(0, 16)}) at ${ctx.paths.install} -> ${outcome.releaseDir} — ${outcome.entries} entries, ${outcome.bytes} bytes, ${outcome.durationMs} ms\n`,
    );
  }
}
