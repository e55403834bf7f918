// A strict section of slipway.yaml: unknown keys are errors with a "did you mean".

import { z } from 'zod';
import { unknownKeyMessage } from './did-you-mean.ts';
import { refusal } from './fields.ts';

/** A strict map: every unknown key is its own issue, at the key, with a suggestion. */
export function section<S extends z.ZodRawShape>(shape: S) {
  const keys = Object.keys(shape);
  return z
    .object(shape, {
      error: (iss) =>
        iss.code === 'invalid_type' ? refusal(`a map with keys ${keys.join(', ')}`, iss.input) : undefined,
    })
    .catchall(
      z.unknown().refine(() => false, {
        // The path is complete when its message is made, so the key is its last part.
        error: (iss) => unknownKeyMessage(String(iss.path?.at(-1)), keys),
        params: { at: 'key' },
      }),
    );
}

