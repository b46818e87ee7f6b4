#!/usr/bin/env node
import { runConvergenceCpu } from './suites/convergence-cpu.js';
import { runCoreCpu } from './suites/core-cpu.js';
import { runFactorizeCpu } from './suites/factorize-cpu.js';
import { runModelsCpu } from './suites/models-cpu.js';
import { runQualityCpu } from './suites/quality-cpu.js';

const full = process.argv.includes('--full');
const SUITES: Record<string, (quick: boolean) => unknown> = {
  'core-cpu': (quick) => runCoreCpu({ quick }),
  'factorize-cpu': (quick) => runFactorizeCpu({ quick, full }),
  'convergence-cpu': (quick) => runConvergenceCpu({ quick }),
  'models-cpu': (quick) => runModelsCpu({ quick }),
  'quality-cpu': (quick) => runQualityCpu({ quick }),
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
const selected = names.length > 0 ? names : Object.keys(SUITES);
for (const name of selected) {
  const suite = SUITES[name];
  if (!suite) {
    process.stderr.write(`unknown suite '${name}'; available: ${Object.keys(SUITES).join(', ')}\n`);
    process.exit(2);
  }
  process.stderr.write(`running ${name}${quick ? ' (quick)' : ''}…\n`);
  process.stdout.write(`${JSON.stringify(await suite(quick), null, 2)}\n`);
}
