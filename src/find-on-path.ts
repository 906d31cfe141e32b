/** Looks a bare command name up in $PATH the way execvp does: first directory that has it wins. */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** A regular file this user may execute (what execvp would run). */
export function isExecutableFile(candidate: string): boolean {
  try {
    if (!statSync(candidate).isFile()) return false;
    accessSync(candidate, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `dir/name` for the first PATH directory where `test` accepts it; empty PATH entries are skipped. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv, test: (candidate: string) => boolean = isExecutableFile): string | undefined {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (test(candidate)) return candidate;
  }
  return undefined;
}
