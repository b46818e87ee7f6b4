#!/usr/bin/env node
/**
 * Turns the JSON the suites print into one static HTML report with SVG plots, and optionally rewrites the
 * results block of a README (between `<!-- bench:start -->` and `<!-- bench:end -->`) so the tables there
 * are produced by this app, never typed by hand:
 *   node dist/report.js --out report.html [--readme ../../README.md] results/*.json
 * The page is ./report/page.ts; each suite's section is rendered next to the suite (./suites/<name>-suite.ts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { renderReport } from './report/page.js';
import type { SuiteResult } from './suites/suite.js';

/** Writes beside the target, then renames: a reader never sees half a report or half a README. */
function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const isMain = process.argv[1]?.endsWith('report.js');
if (isMain) {
  const args = process.argv.slice(2);
  const take = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const out = take('--out') ?? 'report.html';
  const readme = take('--readme');
  const results = args.map((f) => JSON.parse(readFileSync(f, 'utf8')) as SuiteResult);
  const { html, markdown } = renderReport(results);
  writeAtomic(out, html);
  if (readme) {
    const text = readFileSync(readme, 'utf8');
    const start = '<!-- bench:start -->';
    const end = '<!-- bench:end -->';
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`${readme}: no ${start} … ${end} block to replace`);
    writeAtomic(readme, `${text.slice(0, i + start.length)}\n${markdown}\n${text.slice(j)}`);
  }
  process.stderr.write(`wrote ${out}${readme ? ` and the results block of ${readme}` : ''}\n`);
}
