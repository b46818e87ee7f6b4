import { join } from 'node:path';
import type * as Bench from '@blastkit/bench';
import { OutputSafetyError, prepareOutputFolder, writeFileAtomic } from '@blastkit/safetensors';
import { UsageError } from '../errors.js';

export interface BenchCommandOptions {
  quick?: boolean;
  full?: boolean;
  /**
   * Also write each result to `<out>/<suite>.json`, atomically; `out` must be absent, empty or a folder
   * blastkit wrote (it gets the `.blastkit-output` marker).
   */
  out?: string;
  /** The backends of suites that compare them (kernels): cpu, webgpu, tfjs, tfjs:<engine>. */
  backends?: string[];
  /** Progress lines (stderr); none when omitted. */
  log?: (line: string) => void;
}

// a variable specifier: @blastkit/bench is an optional dependency, loaded only by this command
const BENCH_PACKAGE = '@blastkit/bench';

/** The bench package, or a UsageError saying how to get it. */
export async function loadBench(): Promise<typeof Bench> {
  try {
    return (await import(BENCH_PACKAGE)) as typeof Bench;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(
      `blastkit bench needs the optional package ${BENCH_PACKAGE} (npm install ${BENCH_PACKAGE}): ${why}`,
    );
  }
}

/** `blastkit bench --list`: the registered suites and what each measures. */
export async function runBenchList(): Promise<{ name: string; description: string }[]> {
  const bench = await loadBench();
  return Object.entries(bench.SUITES).map(([name, s]) => ({ name, description: s.description }));
}

export function formatBenchList(list: { name: string; description: string }[]): string {
  const width = Math.max(...list.map((s) => s.name.length)) + 2;
  return list.map((s) => `${s.name.padEnd(width)}${s.description}`).join('\n');
}

/**
 * `blastkit bench [suite]`: runs one suite (or every suite, in registry order), calling `onResult` with each
 * JSON result as it finishes, so a long run shows its results early. Unknown names fail before anything runs.
 */
export async function runBench(
  suite: string | undefined,
  options: BenchCommandOptions,
  onResult: (result: Bench.SuiteResult) => void | Promise<void>,
): Promise<void> {
  const bench = await loadBench();
  const names = suite === undefined ? bench.suiteNames() : [suite];
  for (const name of names)
    if (!bench.suiteNames().includes(name))
      throw new UsageError(`unknown suite '${name}'; available: ${bench.suiteNames().join(', ')}`);
  let out: string | undefined;
  try {
    if (options.out) out = await prepareOutputFolder(options.out, { command: 'bench' });
  } catch (err) {
    if (err instanceof OutputSafetyError) throw new UsageError(err.message);
    throw err;
  }
  for (const name of names) {
    options.log?.(`running ${name}${options.quick ? ' (quick)' : ''}…`);
    let result: Bench.SuiteResult;
    try {
      result = await bench.runSuite(name, {
        quick: options.quick,
        full: options.full,
        backends: options.backends,
        log: options.log,
      });
    } catch (err) {
      // a bad backend name and the like are the caller's to fix: exit 2, like any usage error
      if (err instanceof bench.SuiteUsageError) throw new UsageError(err.message);
      throw err;
    }
    if (out) await writeAtomic(join(out, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    await onResult(result);
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await writeFileAtomic(
    file,
    (sink) => sink.write(new TextEncoder().encode(text)),
    (problem, cause) => new Error(`${file}: ${problem}`, { cause }),
  );
}

/** A result for people: the report's tables (Markdown) under the suite's title, or the JSON where none. */
export async function formatBenchResult(result: Bench.SuiteResult): Promise<string> {
  const bench = await loadBench();
  const section = bench.renderSuite(result);
  return section.markdown
    ? `${section.title}\n\n${section.markdown}\n`
    : `${section.title}\n${JSON.stringify(result, null, 2)}\n`;
}
