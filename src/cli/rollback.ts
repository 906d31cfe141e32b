/** `infer-entry rollback [--json]`: re-activate the release that was active before the last install. */
import type { Command } from './command.js';
import { rollback } from '../installer/index.js';

export const command: Command = {
  name: 'rollback',
  summary: 'switch $INFER_ENTRY_ROOT/llama-cpp back to the previous install',
  help: `Usage: infer-entry rollback [--json]

Atomically point $INFER_ENTRY_ROOT/llama-cpp back at the release that was active
before the last install (the installer keeps exactly one). Running it again
switches forward again. Takes the installer lock, so it never interleaves with
an install. Exit 66 when there is no previous release.

Options:
  --json   print the outcome as one JSON object on stdout`,
  options: { json: { type: 'boolean' } },
  async run(ctx) {
    const outcome = await rollback({ paths: ctx.paths, log: ctx.log });
    if (ctx.values.json === true) {
      ctx.stdout.write(`${JSON.stringify({ releaseDir: outcome.releaseDir, from: outcome.from, archiveName: outcome.marker?.archive_name ?? null, sha256: outcome.marker?.sha256 ?? null })}\n`);
    } else {
      const what = outcome.marker ? `${outcome.marker.archive_name} (sha256 ${outcome.marker.sha256.slice(0, 16)})` : 'an install without a marker';
      ctx.stdout.write(`rolled back: ${ctx.paths.install} -> ${outcome.releaseDir}, ${what}; the release it replaced (${outcome.from ?? 'none'}) is kept for another rollback\n`);
    }
    return 0;
  },
};
