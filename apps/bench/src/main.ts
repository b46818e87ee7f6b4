#!/usr/bin/env node
/**
 * `pnpm bench [suite…] [--quick] [--full] [--out DIR] [--list]`: runs suites and prints each result as JSON.
 * Suites are registered in ./suites/index.ts (add new ones there, not here).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSuite, SUITES, suiteNames } from './suites/index.js';

const USAGE = `usage: blastkit-bench [suite…] [--quick] [--full] [--backends LIST] [--out DIR] [--list]
  no suite: every suite in turn. JSON results on stdout, progress on stderr.
  --quick   small sizes (seconds)      --full  the long variant where a suite has one
  --backends cpu,webgpu,tfjs,tfjs:wasm…  the backends of suites that compare them (kernels)
  --out DIR also write DIR/<suite>.json (atomically)   --list  the suites and what they measure`;

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
};
const outIndex = args.indexOf('--out');
const outDir = outIndex >= 0 ? args.splice(outIndex, 2)[1] : undefined;
const backendsIndex = args.indexOf('--backends');
const backends =
  backendsIndex >= 0 ? args.splice(backendsIndex, 2)[1]?.split(',').filter(Boolean) : undefined;
const quick = flag('--quick');
const full = flag('--full');
const list = flag('--list');
const help = flag('--help') || flag('-h');
const unknownFlag = args.find((a) => a.startsWith('-'));

if (help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const usageError = unknownFlag
  ? `unknown option '${unknownFlag}'`
  : outIndex >= 0 && !outDir
    ? '--out needs a folder'
    : backendsIndex >= 0 && !backends?.length
      ? '--backends needs a comma-separated list'
      : undefined;
if (usageError) {
  process.stderr.write(`${usageError}\n${USAGE}\n`);
  process.exit(2);
}
if (list) {
  for (const [name, s] of Object.entries(SUITES))
    process.stdout.write(`${name.padEnd(16)} ${s.description}\n`);
  process.exit(0);
}
const selected = args.length > 0 ? args : suiteNames();
const unknown = selected.filter((n) => !suiteNames().includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown suite '${unknown[0]}'; available: ${suiteNames().join(', ')}\n`);
  process.exit(2);
}
for (const name of selected) {
  process.stderr.write(`running ${name}${quick ? ' (quick)' : ''}…\n`);
  const result = await runSuite(name, {
    quick,
    full,
    backends,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  process.stdout.write(json);
  if (outDir) {
    // a half-written results file would break the report: write beside it, then rename
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `${name}.json`);
    writeFileSync(`${file}.tmp`, json);
    renameSync(`${file}.tmp`, file);
  }
}
