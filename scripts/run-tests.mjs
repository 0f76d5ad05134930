#!/usr/bin/env node
// Runs every test: the C++ core's ctest suite, then vitest (unit, integration, e2e),
// and ends with one "N passed, N failed" line covering both.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
let passed = 0;
let failed = 0;

// ctest: one test per GoogleTest case (gtest_discover_tests), so counts are honest.
const ctest = spawnSync('ctest', ['--test-dir', 'build/addon', '--output-on-failure', '-j2', '--timeout', '120'], {
  cwd: root,
  encoding: 'utf8',
});
process.stdout.write(ctest.stdout);
process.stderr.write(ctest.stderr);
const m = /tests passed, (\d+) tests failed out of (\d+)/.exec(ctest.stdout);
if (m) {
  failed += Number(m[1]);
  passed += Number(m[2]) - Number(m[1]);
} else {
  console.error('run-tests: could not read the ctest summary; counting the C++ suite as one failure');
  failed += 1;
}

const report = `${root}build/vitest-report.json`;
rmSync(report, { force: true });
const extra = process.argv.slice(2);
const vitest = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra], {
  cwd: root,
  stdio: 'inherit',
});
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numRuntimeErrors ?? 0);
  // A suite that failed to load has no tests to count; count it as one failure.
  for (const s of r.testResults) if (s.status === 'failed' && s.assertionResults.length === 0) failed += 1;
} else {
  console.error(`run-tests: vitest wrote no report (exit ${vitest.status}); counting it as one failure`);
  failed += 1;
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && vitest.status === 0 && ctest.status === 0 ? 0 : 1);
