/**
 * undici's connection pool alone. Its index loads fetch, WebSocket, EventSource, the caches and
 * their dependencies too, which the router never uses: ~9 MB of the daemon's RSS (measured in
 * bench/README.md, section router). undici has no exports map, so this path is public.
 */
import { createRequire } from 'node:module';

import type { Pool as UndiciPool } from 'undici';

const require = createRequire(import.meta.url);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
export type Pool = UndiciPool;
