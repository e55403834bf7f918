// "did you mean ...?" for misspelt keys in slipway.yaml.

/**
 * Optimal-string-alignment distance: insertions, deletions, substitutions and
 * swaps of two neighbouring characters each cost 1 ("intreval" → "interval" is 1).
 */
export function editDistance(a: string, b: string): number {
  // rows[i][j] = distance between a[0..i) and b[0..j)
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

// camelCase and kebab-case spellings of a snake_case key are the commonest slip.
function normalise(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

/** The closest allowed key when it is close enough to be a likely typo, else null. */
export function suggestKey(key: string, allowed: readonly string[]): string | null {
  const exact = allowed.find((k) => normalise(k) === normalise(key));
  if (exact !== undefined) return exact;
  // A short key has few letters to spare: "port" is not a typo of "path".
  const budget = key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= budget ? best : null;
}

/** The message for one unknown key, naming a suggestion or else the allowed keys. */
export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const suggestion = suggestKey(key, allowed);
  if (suggestion !== null) return `unknown key; did you mean "${suggestion}"?`;
  return `unknown key; allowed keys here: ${allowed.join(', ')}`;
}
