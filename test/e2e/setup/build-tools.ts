import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/** What the cold build runs, and the Debian package that provides it. */
export const BUILD_TOOLS = [
  { tool: 'npm', pkg: 'npm (comes with Node.js)' },
  { tool: 'git', pkg: 'git' },
  { tool: 'cmake', pkg: 'cmake' },
  // cmake's default generator on Linux is Unix Makefiles
  { tool: 'make', pkg: 'make' },
  { tool: 'g++', pkg: 'g++' },
] as const;

function onPath(tool: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(':').filter(Boolean)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

/**
 * Fails before minutes are spent when a build tool is missing, naming every missing one and its
 * package at once (a fresh machine or CI runner has to install them; nothing else is needed).
 */
export function checkBuildTools(env: NodeJS.ProcessEnv = process.env): void {
  const missing = BUILD_TOOLS.filter((t) => !onPath(t.tool, env));
  if (missing.length === 0) return;
  const debian = missing.filter((t) => t.tool !== 'npm').map((t) => t.pkg);
  throw new Error(
    `the e2e tests build llama-server once and need ${missing.map((t) => t.tool).join(', ')} on PATH, which ${missing.length === 1 ? 'is' : 'are'} missing` +
      (debian.length > 0 ? ` — install the Debian package${debian.length === 1 ? '' : 's'}: apt-get install -y ${debian.join(' ')}` : '') +
      (missing.some((t) => t.tool === 'npm') ? ' — npm comes with Node.js' : ''),
  );
}
