/** "did you mean" suggestions for misspelt keys. */

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest known key, when it is close enough to be the intended one. */
export function suggest(input: string, known: readonly string[]): string | undefined {
  const normal = input.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of known) {
    if (candidate === normal) return candidate;
    const score = distance(normal, candidate);
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(normal.length / 3)));
  if (best !== undefined && bestScore <= limit) return best;
  // A known key contained in the input (or the reverse) is a likely intent too: `enable` → `enabled`.
  return known.find((k) => k.length >= 4 && (normal.includes(k) || k.includes(normal) && normal.length >= 4));
}
