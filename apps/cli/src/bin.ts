#!/usr/bin/env node
import { CommanderError } from 'commander';
import { EXIT, InterruptedError } from './errors.js';
import { isInputError } from './io/input-errors.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // help and version exit 0; every argument error commander finds is a usage error
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  process.stderr.write(`blastkit: ${err instanceof Error ? err.message : String(err)}\n`);
  // a bad argument or input file (each such error names the file): exit 2, no stack trace
  if (isInputError(err)) process.exit(EXIT.usage);
  if (err instanceof InterruptedError) process.exit(EXIT.interrupted);
  if (err instanceof Error && err.stack && process.env.BLASTKIT_DEBUG) process.stderr.write(`${err.stack}\n`);
  process.exit(EXIT.failure);
}
