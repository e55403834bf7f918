// How long the server takes to read a CI's test report (slipway ci-release): a
// JUnit XML and a TAP report of N test cases each, up to the 1 MiB limit. The
// report is parsed on the API's request path, before the run starts, so this is
// time one request holds the event loop.
//
//   node --import tsx bench/test-report-bench.ts [--rounds 20]
//
// Prints, per format and size, the report's bytes, cases and the median and worst
// parse time over the rounds.

import { parseArgs } from 'node:util';
import { MAX_TEST_REPORT_BYTES, parseTestReport } from '../src/engine/pipeline/test-report.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } });
const rounds = Number(values.rounds);

function junit(n: number): string {
  const cases = Array.from({ length: n }, (_, i) => `    <testcase classname="suite.${i % 50}" name="case number ${i} does what it says" time="0.01">${i % 97 === 0 ? '<skipped/>' : ''}</testcase>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench" time="${n / 100}">\n  <testsuite name="all" tests="${n}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

function tap(n: number): string {
  const lines = Array.from({ length: n }, (_, i) => `ok ${i + 1} - case number ${i} does what it says${i % 97 === 0 ? ' # SKIP not here' : ''}`);
  return `TAP version 13\n${lines.join('\n')}\n1..${n}\n`;
}

function time(text: string): { medianMs: number; worstMs: number; tests: number } {
  const ms: number[] = [];
  let tests = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    tests = parseTestReport(text).tests;
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { medianMs: ms[Math.floor(ms.length / 2)]!, worstMs: ms.at(-1)!, tests };
}

for (const [format, make] of [['junit', junit], ['tap', tap]] as const) {
  for (const n of [100, 1000, 5000, 12000]) {
    let text = make(n);
    if (Buffer.byteLength(text) > MAX_TEST_REPORT_BYTES) text = make(Math.floor(n * MAX_TEST_REPORT_BYTES / Buffer.byteLength(text) * 0.95));
    const r = time(text);
    process.stdout.write(`${format.padEnd(5)} ${String(r.tests).padStart(5)} cases ${(Buffer.byteLength(text) / 1024).toFixed(0).padStart(5)} KiB: median ${r.medianMs.toFixed(1)} ms, worst ${r.worstMs.toFixed(1)} ms over ${rounds} rounds\n`);
  }
}
