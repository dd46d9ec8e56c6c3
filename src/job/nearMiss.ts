/**
 * "Did you mean" support: typos in field names and runner flags are the most common spec mistakes,
 * and Azure ML ignores them silently.
 */

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions (`tyep` -> `type` is 1). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Case and `-`/`_` differences are not typos worth counting. */
function normalize(word: string): string {
  return word.toLowerCase().replace(/-/g, '_');
}

function allowedDistance(word: string): number {
  if (word.length <= 4) return 1;
  if (word.length <= 10) return 2;
  return 3;
}

/** The candidate closest to `word`, when it is close enough to be a likely typo. */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  const target = normalize(word);
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(target, normalize(candidate));
    if (distance <= allowedDistance(target) && (!best || distance < best.distance)) {
      best = { candidate, distance };
    }
  }
  return best?.candidate;
}

/** ` Did you mean "x"?` or an empty string. */
export function didYouMean(
  word: string,
  candidates: Iterable<string>,
  quote = (s: string) => `"${s}"`,
): string {
  const match = closestMatch(word, candidates);
  return match === undefined ? '' : ` Did you mean ${quote(match)}?`;
}
