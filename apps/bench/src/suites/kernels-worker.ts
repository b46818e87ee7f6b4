#!/usr/bin/env node
/**
 * Measures the kernels suite on one backend and reports on stdout, one JSON object per line ({log} for
 * progress, then {result}): `runKernels` starts one of these per backend, so each gets a fresh process.
 *   node kernels-worker.js <backend> [--quick]
 */
import { measureBackend } from './kernels.js';

const [name, mode] = process.argv.slice(2);
if (!name) {
  process.stderr.write('usage: kernels-worker.js <backend> [--quick]\n');
  process.exit(2);
}
const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);
const result = await measureBackend(name, { quick: mode === '--quick', log: (line) => send({ log: line }) });
// exit once the result is flushed: a GPU runtime may keep the event loop alive after close
process.stdout.write(`${JSON.stringify({ result })}\n`, () => process.exit(0));
