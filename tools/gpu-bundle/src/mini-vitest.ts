/**
 * The part of vitest's API that `describeBackendConformance` (@blastkit/core/test) uses — describe, it,
 * beforeAll, afterAll, expect(…).toBe / toBeDefined / toBeNull / toThrow — as a small sequential runner, so
 * the conformance suite can be bundled and run where vitest cannot be installed (the GPU machine). The bundle
 * maps the 'vitest' import here. `runCollected()` runs what was declared and reports each test.
 */

type Fn = () => unknown;

interface Suite {
  name: string;
  before: Fn[];
  after: Fn[];
  children: (Suite | Test)[];
}
interface Test {
  name: string;
  fn: Fn;
}

const root: Suite = { name: '', before: [], after: [], children: [] };
let current = root;

export function describe(name: string, body: () => void): void {
  const suite: Suite = { name, before: [], after: [], children: [] };
  current.children.push(suite);
  const parent = current;
  current = suite;
  try {
    body();
  } finally {
    current = parent;
  }
}

export function it(name: string, fn: Fn): void {
  current.children.push({ name, fn });
}

export function beforeAll(fn: Fn): void {
  current.before.push(fn);
}

export function afterAll(fn: Fn): void {
  current.after.push(fn);
}

class AssertionError extends Error {}

const show = (v: unknown) => {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
};

export function expect(actual: unknown, message?: string) {
  const fail = (what: string) => {
    throw new AssertionError(`${message ? `${message}: ` : ''}${what}`);
  };
  return {
    toBe(expected: unknown) {
      if (!Object.is(actual, expected)) fail(`expected ${show(actual)} to be ${show(expected)}`);
    },
    toBeDefined() {
      if (actual === undefined) fail('expected a value, got undefined');
    },
    toBeNull() {
      if (actual !== null) fail(`expected null, got ${show(actual)}`);
    },
    toThrow(expected?: string | RegExp | (new (...args: never[]) => Error)) {
      if (typeof actual !== 'function') fail('toThrow needs a function');
      try {
        (actual as () => unknown)();
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        if (expected === undefined) return;
        if (
          typeof expected === 'string'
            ? text.includes(expected)
            : expected instanceof RegExp
              ? expected.test(text)
              : err instanceof expected
        )
          return;
        fail(`threw ${show(text)}, which does not match ${String(expected)}`);
      }
      fail('expected a throw, none came');
    },
  };
}

export interface TestOutcome {
  name: string;
  ok: boolean;
  error?: string;
  seconds: number;
}

/** Runs every declared suite in order (hooks around their tests); one line per test through `log`. */
export async function runCollected(log: (line: string) => void = () => {}): Promise<TestOutcome[]> {
  const outcomes: TestOutcome[] = [];
  const run = async (suite: Suite, path: string[], broken?: string) => {
    let failure = broken;
    for (const hook of suite.before) {
      if (failure) break;
      try {
        await hook();
      } catch (err) {
        failure = `beforeAll failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    for (const child of suite.children) {
      if ('fn' in child) {
        const name = [...path, child.name].filter(Boolean).join(' > ');
        const t0 = performance.now();
        let error = failure;
        if (!error) {
          try {
            await child.fn();
          } catch (err) {
            error = err instanceof Error ? err.message : String(err);
          }
        }
        const outcome = {
          name,
          ok: !error,
          ...(error && { error }),
          seconds: (performance.now() - t0) / 1000,
        };
        outcomes.push(outcome);
        log(`${outcome.ok ? '✓' : '✗'} ${name}${error ? `: ${error}` : ''}`);
      } else await run(child, [...path, child.name], failure);
    }
    for (const hook of suite.after) {
      try {
        await hook();
      } catch (err) {
        log(`afterAll of '${suite.name}' failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await run(root, []);
  return outcomes;
}
