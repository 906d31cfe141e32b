/**
 * Idle unloads: the TTL counts from the end of the last request, only while the model is servable
 * and idle (never during a load), and a per-request keep-alive overrides the configured ttl.
 */
import type { Clock } from './clock.js';
import { idle, type Runtime } from './scheduler-state.js';

/** The TTL that applies now, ms; null = never unload. */
function ttlOf(m: Runtime): number | null {
  if (m.ttlOverride !== undefined) return m.ttlOverride;
  return m.spec.ttlMs > 0 ? m.spec.ttlMs : null;
}

/** Arms the TTL timer when the model just became idle, disarms it when it no longer is. */
export function countTtl(m: Runtime, clock: Clock, expired: () => void): void {
  const ttl = ttlOf(m);
  if (idle(m) && ttl !== null) {
    if (m.expiresAt === null) {
      m.expiresAt = clock.now() + ttl;
      m.ttlTimer = clock.setTimeout(expired, Math.max(0, m.expiresAt - clock.now()));
    }
  } else if (m.expiresAt !== null) {
    clock.clearTimeout(m.ttlTimer);
    m.expiresAt = null;
  }
}
