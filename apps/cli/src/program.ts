import { Command, InvalidArgumentError } from 'commander';
import { formatDemo, runDemo } from './demo.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

function ratio(value: string): number {
  const x = Number(value);
  if (!(x > 0 && x <= 1)) throw new InvalidArgumentError(`expected a ratio in (0, 1], got '${value}'`);
  return x;
}

/** Builds the `blastkit` command tree; `io` lets tests capture output. */
export function buildProgram(
  io: { out: (s: string) => void } = { out: (s) => process.stdout.write(s) },
): Command {
  const program = new Command('blastkit')
    .description('Compress transformer models with BLAST and other structured matrices.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('demo')
    .description(
      'Compress a synthetic matrix to a parameter budget and print the error and parameter counts.',
    )
    .option('--rows <m>', 'rows of the matrix', positiveInt, 768)
    .option('--cols <n>', 'columns of the matrix', positiveInt, 288)
    .option('--ratio <x>', 'fraction of the dense parameters to keep', ratio, 0.5)
    .option('--seed <s>', 'random seed', positiveInt, 1)
    .option('--json', 'print one JSON object instead of the table')
    .action((opts: { rows: number; cols: number; ratio: number; seed: number; json?: boolean }) => {
      const result = runDemo(opts);
      io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatDemo(result)}\n`);
    });

  return program;
}
