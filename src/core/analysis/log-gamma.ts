// The special functions the sequential tests need, in log space: counts reach the
// millions, where Γ and B overflow long before their logarithms lose precision.

// Lanczos approximation, g = 7, nine terms (the coefficients Numerical Recipes and
// Boost use): relative error below 2e-15 for Γ over the positive reals. In log form
// the absolute error of ln Γ(x) grows only like x·1e-16, so at a million requests
// the log-likelihoods are still right to ~1e-9 nats.
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;
const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) {
    // Reflection keeps the series in the range where it is accurate.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let series = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) series += LANCZOS[i]! / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return HALF_LOG_TWO_PI + (z + 0.5) * Math.log(t) - t + Math.log(series);
}

/** ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b), for a, b > 0. */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** x · ln y with the convention 0 · ln 0 = 0, so a likelihood with no events of a kind ignores that kind. */
export function xLogY(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(y);
}
