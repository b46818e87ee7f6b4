/** What a benchmark suite is: a name, a line for `--list`, how to run it and how to show its result. */

/** What every suite accepts; a suite ignores what it has no use for. */
export interface SuiteOptions {
  /** Small shapes, few steps: the size the tests run, seconds instead of minutes. */
  quick?: boolean;
  /** The long variant where a suite has one (factorize-cpu: adds 1024×1024, minutes per solver). */
  full?: boolean;
  /** Progress lines, for stderr (default: none). */
  log?: (line: string) => void;
  /** Which backends a suite that compares backends runs on (kernels: cpu, webgpu, tfjs, tfjs:<engine>). */
  backends?: readonly string[];
}

/** A suite's result: plain JSON, `suite` naming the suite (the report picks its renderer by it). */
export type SuiteResult = { suite: string } & Record<string, unknown>;

/** One suite's part of the report: plots and tables in HTML, the tables and notes in Markdown (for the README). */
export interface Section {
  title: string;
  html: string;
  markdown: string;
}

/**
 * A suite as data. `R` is its result's type: `run` makes one, `render` shows one — including results saved by
 * earlier versions of the suite (the committed `results/*.json`), so a field added later is read as optional.
 */
export interface Suite<R extends { suite: string } = SuiteResult> {
  /** As `blastkit bench NAME` takes it; the `suite` field of its results. */
  name: string;
  /** One line for `--list`. */
  description: string;
  /** Runs the suite (importing its module only now: listing suites loads none of their dependencies). */
  run(options: SuiteOptions): Promise<R>;
  /** Its section of the report; absent: the result is shown as JSON. */
  render?(result: R): Section;
}

/**
 * Checks a suite's types (run and render agree on `R`) and files it under the registry's common type, which
 * only promises JSON with a `suite` name.
 */
export function defineSuite<R extends { suite: string }>(suite: Suite<R>): Suite {
  return suite as unknown as Suite;
}
