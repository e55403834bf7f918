import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTestReport } from './test-report.ts';

const JUNIT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="vitest" tests="4" failures="0" time="1.5">
  <testsuite name="api" tests="2" time="1.0">
    <testcase classname="api" name="answers" time="0.4"/>
    <testcase classname="api" name="refuses bad input" time="0.6"/>
  </testsuite>
  <testsuite name="ui" tests="2">
    <testcase classname="ui" name="renders"/>
    <testcase classname="ui" name="later"><skipped/></testcase>
  </testsuite>
</testsuites>`;

describe('reading a CI test report', () => {
  it('counts JUnit test cases itself: passed, failed, skipped, and the total time', () => {
    expect(parseTestReport(JUNIT)).toMatchObject({ format: 'junit', tests: 4, pass: 3, fail: 0, skipped: 1, durationMs: 1500, failures: [] });
  });

  it('names failing JUnit cases (failure or error), and a lone <testsuite> works too', () => {
    const r = parseTestReport('<testsuite name="s"><testcase classname="s" name="a"><failure>x</failure></testcase><testcase name="b"><error/></testcase><testcase name="c"/></testsuite>');
    expect(r).toMatchObject({ tests: 3, pass: 1, fail: 2, skipped: 0, failures: ['s › a', 'b'] });
  });

  it("reads node --test's own JUnit report, whose tests outside a describe() sit right under <testsuites>", () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-junit-'));
    try {
      writeFileSync(join(dir, 'a.test.js'), [
        "const test = require('node:test');",
        "test('top', () => {});",
        "test.describe('d', () => { test.it('inner', () => {}); test.it('bad', () => { throw new Error('x'); }); });",
      ].join('\n'));
      const report = spawnSync(process.execPath, ['--test', '--test-reporter=junit', 'a.test.js'], { cwd: dir, encoding: 'utf8' }).stdout;
      expect(report).toContain('<testsuites>');
      expect(parseTestReport(report)).toMatchObject({ format: 'junit', tests: 3, pass: 2, fail: 1, failures: ['test › bad'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('believes the test cases over a summary attribute that disagrees', () => {
    expect(parseTestReport('<testsuites tests="99" failures="0"><testsuite><testcase name="x"><failure/></testcase></testsuite></testsuites>')).toMatchObject({ tests: 1, fail: 1 });
  });

  it('reads TAP with the TAP parser: not ok, and the skip and todo directives (lower case, as TAP allows)', () => {
    const r = parseTestReport('TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 - c # skip no db\nnot ok 4 - d # todo later\n1..4\n');
    expect(r).toMatchObject({ format: 'tap', tests: 4, pass: 1, fail: 1, skipped: 2, failures: ['b'] });
  });

  it('gives the digest of the text it read, so the checklist names the very report', () => {
    expect(parseTestReport('ok 1 - a\n1..1\n').digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(parseTestReport('ok 1 - a\n1..1\n').digest).not.toBe(parseTestReport('ok 1 - b\n1..1\n').digest);
  });

  it.each([
    ['XML that is not well-formed, with its line', '<testsuites>\n<testsuite></testsuites>', /not well-formed XML: .*\(line 2, column \d+\)/],
    ['XML without a test suite', '<report/>', /no <testsuites> or <testsuite> element/],
    ['an empty suite', '<testsuites/>', /holds no <testcase>/],
    ['TAP with no test point', '1..0\n', /holds no test point/],
    ['text that is no report', 'all good!', /holds no test point/],
    ['a TAP bail out', 'ok 1 - a\nBail out! database down\n', /bailed out: database down/],
  ])('refuses %s with E_TEST_REPORT_INVALID', (_what, text, message) => {
    expect(() => parseTestReport(text)).toThrow(expect.objectContaining({ code: 'E_TEST_REPORT_INVALID', message: expect.stringMatching(message) }));
  });

  it('refuses a report over 1 MiB', () => {
    expect(() => parseTestReport(`ok 1 - a\n${'#'.repeat(1024 * 1024)}\n1..1\n`)).toThrow(/over 1048576 bytes/);
  });

  it('does not expand XML entities', () => {
    const r = parseTestReport('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><testsuite><testcase name="&a;&a;"><failure/></testcase></testsuite>');
    expect(r.failures).toEqual(['&a;&a;']);
  });
});
