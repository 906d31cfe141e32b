// Builds (or reports) the cached llama-server by hand: `npx vite-node test/e2e/setup/build-llama-server-cli.ts`.
import { ensureLlamaServer } from './build-llama-server.js';

ensureLlamaServer().then(
  (build) => console.log(JSON.stringify(build, null, 2)),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
