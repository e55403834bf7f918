// A problem found in plain config data, named by field path. Kept apart from the
// schema so that every checker can produce one without importing the others.

/** ["environments", "production", "listen"]; numbers index lists. */
export type FieldPath = (string | number)[];

/** One problem, by field path; `at: 'key'` when the key itself is what is wrong. */
export interface PathIssue {
  path: FieldPath;
  message: string;
  at: 'key' | 'value';
}
