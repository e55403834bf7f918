// Reading a CI's test report: JUnit XML (what most runners and CI systems write)
// or TAP. The counts come from the test cases themselves (JUnit) or the TAP
// parser's tally, not from a summary line a report may get wrong. The report is
// the CI's: hostile input, parsed with entity expansion off and bounded in size.

import { createHash } from 'node:crypto';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { Parser as TapParser, type FinalResults as TapFinal } from 'tap-parser';
import { SlipwayError } from '../../core/errors.ts';
import type { TestReportFormat, TestReportSummary } from '../../core/pipeline/ci-origin.ts';

export const MAX_TEST_REPORT_BYTES = 1024 * 1024;
const MAX_FAILURE_NAMES = 10;

function invalid(message: string, details: Record<string, unknown> = {}): SlipwayError {
  return new SlipwayError('E_TEST_REPORT_INVALID', message, details);
}

/** JUnit when it looks like XML, TAP otherwise, unless `format` says. */
export function parseTestReport(text: string, format?: TestReportFormat): TestReportSummary {
  if (Buffer.byteLength(text, 'utf8') > MAX_TEST_REPORT_BYTES) throw invalid(`the test report is over ${MAX_TEST_REPORT_BYTES} bytes; send the summary report of the run, not every log line`);
  const chosen = format ?? (text.trimStart().startsWith('<') ? 'junit' : 'tap');
  const digest = `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
  return { ...(chosen === 'junit' ? parseJunit(text) : parseTap(text)), format: chosen, digest };
}

type Counts = Omit<TestReportSummary, 'format' | 'digest'>;
type Node = Record<string, unknown>;

const ARRAYS = new Set(['testsuite', 'testcase', 'failure', 'error', 'skipped']);

function parseJunit(text: string): Counts {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw invalid(`the JUnit XML report is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`, { line: valid.err.line, column: valid.err.col });
  const doc = new XMLParser({
    ignoreAttributes: false, attributeNamePrefix: '@', processEntities: false, ignoreDeclaration: true, ignorePiTags: true,
    isArray: (name) => ARRAYS.has(name),
  }).parse(text) as Node;
  if (!('testsuites' in doc) && !('testsuite' in doc)) throw invalid('the JUnit XML report has no <testsuites> or <testsuite> element at its top');
  const top = 'testsuites' in doc ? doc['testsuites'] : { testsuite: doc['testsuite'] };
  // An empty element parses as a string: a report with no suite in it.
  const root: Node = typeof top === 'object' && top !== null ? (top as Node) : {};
  const cases: Node[] = [];
  const suites: Node[] = [];
  const walk = (suite: Node) => {
    suites.push(suite);
    for (const c of (suite['testcase'] as Node[] | undefined) ?? []) cases.push(typeof c === 'object' && c !== null ? c : {});
    for (const s of (suite['testsuite'] as Node[] | undefined) ?? []) if (typeof s === 'object' && s !== null) walk(s);
  };
  for (const s of (root['testsuite'] as Node[] | undefined) ?? []) if (typeof s === 'object' && s !== null) walk(s);
  // node --test --test-reporter=junit puts a test outside any describe() right under <testsuites>.
  for (const c of (root['testcase'] as Node[] | undefined) ?? []) cases.push(typeof c === 'object' && c !== null ? c : {});
  if (cases.length === 0) throw invalid('the JUnit XML report holds no <testcase>: no test ran, so it proves nothing');
  let fail = 0;
  let skipped = 0;
  const failures: string[] = [];
  for (const c of cases) {
    if (c['failure'] !== undefined || c['error'] !== undefined) {
      fail++;
      if (failures.length < MAX_FAILURE_NAMES) failures.push([c['@classname'], c['@name']].filter((x) => typeof x === 'string' && x).join(' › ') || '(unnamed)');
    } else if (c['skipped'] !== undefined) skipped++;
  }
  const seconds = (n: Node) => (typeof n['@time'] === 'string' && Number.isFinite(Number(n['@time'])) ? Number(n['@time']) : null);
  const total = seconds(root) ?? (suites.length ? suites.map(seconds).reduce<number>((a, b) => a + (b ?? 0), 0) : null);
  return { tests: cases.length, pass: cases.length - fail - skipped, fail, skipped, durationMs: total === null ? null : Math.round(total * 1000), failures };
}

function parseTap(text: string): Counts {
  let final: TapFinal | null = null;
  const parser = new TapParser();
  parser.on('complete', (r: TapFinal) => (final = r));
  parser.end(text);
  const r = final as TapFinal | null;
  if (!r) throw invalid('the TAP report did not end (no plan and no test lines); is it TAP?');
  if (r.count === 0) throw invalid('the TAP report holds no test point ("ok 1 - …"): no test ran, so it proves nothing');
  if (r.bailout) throw invalid(`the TAP report bailed out: ${typeof r.bailout === 'string' ? r.bailout : 'Bail out!'}`);
  const skipped = r.skip + r.todo;
  // r.fail also counts a "not ok" carrying the todo directive, which TAP says is no failure; r.failures does not.
  const fail = r.failures.length;
  const failures = r.failures.slice(0, MAX_FAILURE_NAMES).map((f) => (typeof f.name === 'string' && f.name) || (f.tapError ? `TAP error: ${String(f.tapError)}` : `test ${String(f.id)}`));
  return { tests: r.count, pass: Math.max(0, r.count - fail - skipped), fail, skipped, durationMs: r.time ?? null, failures };
}
