/**
 * Durations in the config: "500ms", "30s", "10m", "1h" (decimals allowed,
 * e.g. "1.5s") or a non-negative integer number of seconds.
 */

export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/**
 * The longest delay a Node timer holds: setTimeout turns anything larger into
 * 1 ms, so "600h" of health_interval became hundreds of probes a second.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Milliseconds, or undefined when the value is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 ? value * 1000 : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = DURATION_PATTERN.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** Milliseconds of a duration the schema already accepted; anything else is a bug, not a user mistake. */
export function durationMs(value: number | string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new Error(`bug: ${JSON.stringify(value)} passed the schema but is not a duration`);
  return ms;
}
