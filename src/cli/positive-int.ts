// A flag that takes a count or a number (--to 3, -n 50), read strictly.

import { InvalidArgumentError } from 'commander';

/**
 * Digits only: Number() alone would take `1e3`, `0x10` and ` 2 `, and a
 * 20-digit number that is no longer exact; `abc` must be refused, not defaulted.
 */
export function positiveInt(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}
