/**
 * The test tiers: `npm test` runs `unit` on any machine with Node; the others need root, Debian tools
 * or the real llama-server, so they run on their own command (and all of them in `.ci/run`). One list,
 * read by the vitest config and by the reporter that names the tiers a run left out.
 */
export interface Tier {
  name: 'unit' | 'system' | 'e2e' | 'image';
  command: string;
  needs: string;
}

export const TIERS: readonly Tier[] = [
  { name: 'unit', command: 'npm test', needs: 'Node 20 after npm install' },
  { name: 'system', command: 'npm run test:system', needs: 'root; Debian tini, shellcheck, util-linux (unshare, setpriv), mount' },
  { name: 'e2e', command: 'npm run test:e2e', needs: 'git, cmake, make, g++ and the npm registry (builds the real llama-server once)' },
  { name: 'image', command: 'npm run test:image', needs: 'root; Debian podman, buildah, runc, mmdebstrap, podman-compose; the e2e build' },
];

/** Installs every tier's tools (as root, with apt) and runs every tier, on a clean clone. */
export const ALL_TIERS_COMMAND = '.ci/run';

/** Test files that need root or a Debian tool: the system tier, wherever they live. */
export const SYSTEM_TESTS = 'test/**/*.system.test.ts';
