// The ready-made CI files in examples/ci/ must be valid for the systems that read
// them: each is checked against that system's maintained JSON schema (vendored in
// test/fixtures/schemas/, see SOURCE.md there), and against what slipway ci-release
// needs from it (the CLI installed the README's way, the tests' JUnit report sent,
// the token taken from the CI's secret store, never written in the file).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REPO } from './support/harness.ts';

const SCHEMAS = join(REPO, 'test', 'fixtures', 'schemas');
const EXAMPLES = join(REPO, 'examples', 'ci');

function validatorFor(schemaFile: string): ValidateFunction {
  // strict off: these schemas use keywords ajv does not know (markdownDescription, deprecationMessage).
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, schemaFile), 'utf8')) as object);
}

const load = (file: string): unknown => parse(readFileSync(join(EXAMPLES, file), 'utf8'));
const errorsOf = (v: ValidateFunction) => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);

const CASES = [
  { file: 'github-actions.yml', schema: 'github-workflow.json', secret: '${{ secrets.SLIPWAY_CI_TOKEN }}' },
  { file: 'gitlab-ci.yml', schema: 'gitlab-ci.json', secret: '$SLIPWAY_CI_TOKEN' },
];

describe('the CI examples', () => {
  it.each(CASES)('$file is valid by its schema ($schema)', ({ file, schema }) => {
    const validate = validatorFor(schema);
    const ok = validate(load(file));
    expect(errorsOf(validate)).toEqual([]);
    expect(ok).toBe(true);
  });

  it.each(CASES)('$file installs the CLI, runs the tests with a JUnit report and releases with the token from the secret store', ({ file, secret }) => {
    const text = readFileSync(join(EXAMPLES, file), 'utf8');
    expect(text).toMatch(/npm ci --prefix .*\n.*npm install -g /);
    expect(text).toMatch(/--test-reporter=junit --test-reporter-destination=/);
    expect(text).toMatch(/slipway ci-release --test-report \S+junit\.xml/);
    expect(text).toContain(`SLIPWAY_TOKEN: ${secret}`);
    expect(text).not.toMatch(/slw_[0-9a-f]{16}_/);
  });

  it('the schemas catch a broken file: an unknown event, a misspelt key', () => {
    const github = validatorFor('github-workflow.json');
    const job = { 'runs-on': 'ubuntu-latest', steps: [{ run: 'true' }] };
    expect(github({ on: 'push', jobs: { release: job } })).toBe(true);
    expect(github({ on: 'pushed', jobs: { release: job } })).toBe(false);
    expect(github({ on: 'push', jobs: { release: { ...job, 'run-on': 'ubuntu-latest' } } })).toBe(false);
    const gitlab = validatorFor('gitlab-ci.json');
    expect(gitlab({ release: { script: ['true'], scripts: ['typo'] } })).toBe(false);
    expect(gitlab({ release: { script: ['true'] } })).toBe(true);
  });
});
