import { configDefaults, defineConfig } from 'vitest/config';

import { fileURLToPath } from 'node:url';

import { SYSTEM_TESTS } from './tiers/tiers.js';

// Tiers (test/tiers/tiers.ts): `unit` is `npm test` and needs only Node; `system`, `e2e` and `image`
// need root, Debian tools or the real llama-server and run on their own command.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    reporters: ['default', './test/tiers/tiers-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/hostile/**/*.test.ts', 'test/dockers/**/*.test.ts'],
          exclude: [...configDefaults.exclude, SYSTEM_TESTS],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'system',
          include: [SYSTEM_TESTS],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/setup/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 1_800_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          // The built image run with podman; reuses the e2e tier's llama-server build, model and archives.
          name: 'image',
          include: ['test/image/**/*.test.ts'],
          globalSetup: ['test/e2e/setup/global-setup.ts', 'test/image/setup/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 1_800_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
