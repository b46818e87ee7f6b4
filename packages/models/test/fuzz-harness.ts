// What the fuzz tests share: how many cases, the seed, byte mutations of a valid file, and the checks every
// rejected input must pass (a typed error that names the file, no leaked file handle).
import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';

/** Cases per property: 1,000 by default; BLASTKIT_FUZZ_RUNS=100000 for a long local run. */
export const FUZZ_RUNS = Number(process.env.BLASTKIT_FUZZ_RUNS ?? 1000);
/** One seed for every property, so a failure reproduces; BLASTKIT_FUZZ_SEED to explore others. */
export const FUZZ_SEED = Number(process.env.BLASTKIT_FUZZ_SEED ?? 17);
/** fast-check's settings: seeded, and each case under 2 s (a parser that hangs fails instead of stalling). */
export const FUZZ_PARAMS = {
  numRuns: FUZZ_RUNS,
  seed: FUZZ_SEED,
  timeout: 2000,
  endOnFailure: true,
} as const;

/** One edit of a file's bytes; positions are taken modulo the length, so any value applies to any file. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
);

/** 1 to 4 mutations, optionally all within the first `focus` bytes (the header, where parsers branch). */
export function mutationsArb(focus?: number): fc.Arbitrary<Mutation[]> {
  const arb = focus === undefined ? mutationArb : mutationArb.map((m) => ({ ...m, at: m.at % focus }));
  return fc.array(arb, { minLength: 1, maxLength: 4 });
}

/** Applies mutations in order to a copy of `bytes`. */
export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    switch (m.kind) {
      case 'flip':
        if (out.length > 0) out[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (out.length > 0) out[at] = m.value;
        break;
      case 'truncate':
        out = out.slice(0, at);
        break;
      case 'insert':
        out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
        break;
      case 'delete':
        out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + m.count)]);
        break;
    }
  }
  return out;
}

/** Open file descriptors of this process (Linux); -1 where /proc is missing. */
export function openFileCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/**
 * Checks a rejection: an instance of one of `types` (never a bare TypeError, RangeError or SyntaxError), whose
 * message starts with one of `files` (the file it is about) and carries no stack trace.
 */
export function expectFileError(
  err: unknown,
  types: readonly (abstract new (...args: never[]) => Error)[],
  files: readonly string[],
): void {
  if (!types.some((t) => err instanceof t)) {
    // show the unexpected error in full: it is the bug the fuzzer found
    throw new Error(
      `expected ${types.map((t) => t.name).join(' or ')}, got ${String((err as Error)?.stack ?? err)}`,
    );
  }
  const message = (err as Error).message;
  expect(
    files.some((f) => message.startsWith(`${f}:`) || message.startsWith(`${f} `)),
    `${message} should start with one of ${files.join(', ')}`,
  ).toBe(true);
  expect(message).not.toMatch(/\n\s+at /);
}

/** One edit of a parsed JSON document: at the `at`-th node (depth first, modulo the count). */
export type JsonEdit =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'delete'; at: number }
  | { kind: 'add'; at: number; key: string; value: unknown }
  | { kind: 'renumber'; at: number; value: number };

/** Values parsers trip over: wrong types, out-of-range numbers, nesting. */
export const awkwardJsonArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, 0, -1, 1.5, 2 ** 31, 2 ** 53, 1e308, -1e308, '', '0', [], {}, [1, 2], true),
  fc.integer({ min: -3, max: 100 }),
);

export const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: awkwardJsonArb }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('add' as const),
    at: fc.nat(),
    key: fc.string({ maxLength: 6 }),
    value: awkwardJsonArb,
  }),
  // a number where a number was: sizes and counts that type checks let through
  fc.record({
    kind: fc.constant('renumber' as const),
    at: fc.nat(),
    value: fc.oneof(
      fc.constantFrom(0, -1, 0.5, 3, 7, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1e308, Number.MAX_SAFE_INTEGER),
      fc.integer({ min: -2, max: 300 }),
    ),
  }),
);

/** Applies edits to a deep copy of `doc`; the root itself can be replaced. */
export function editJson(doc: unknown, edits: readonly JsonEdit[]): unknown {
  let root = structuredClone(doc);
  for (const edit of edits) {
    // every node with its parent and key, depth first
    const nodes: {
      parent: Record<string, unknown> | unknown[] | undefined;
      key: string | number;
      value: unknown;
    }[] = [];
    const walk = (value: unknown, parent: (typeof nodes)[number]['parent'], key: string | number) => {
      nodes.push({ parent, key, value });
      if (Array.isArray(value)) for (const [i, v] of value.entries()) walk(v, value, i);
      else if (typeof value === 'object' && value !== null)
        for (const [k, v] of Object.entries(value)) walk(v, value as Record<string, unknown>, k);
    };
    walk(root, undefined, '');
    if (edit.kind === 'renumber') {
      const numbers = nodes.filter((n) => typeof n.value === 'number' && n.parent !== undefined);
      const target = numbers[edit.at % Math.max(1, numbers.length)];
      if (target) (target.parent as Record<string | number, unknown>)[target.key] = edit.value;
      continue;
    }
    const node = nodes[edit.at % nodes.length];
    if (edit.kind === 'add') {
      // a copy: fast-check may hand the same value to two edits, which must not make a cycle
      if (Array.isArray(node.value)) node.value.push(structuredClone(edit.value));
      else if (typeof node.value === 'object' && node.value !== null)
        (node.value as Record<string, unknown>)[edit.key] = structuredClone(edit.value);
      continue;
    }
    if (node.parent === undefined) {
      if (edit.kind === 'replace') root = structuredClone(edit.value);
      continue;
    }
    if (edit.kind === 'replace')
      (node.parent as Record<string | number, unknown>)[node.key] = structuredClone(edit.value);
    else if (Array.isArray(node.parent)) node.parent.splice(node.key as number, 1);
    else delete (node.parent as Record<string, unknown>)[node.key as string];
  }
  return root;
}

/** 1 to 3 JSON edits. */
export const jsonEditsArb = fc.array(jsonEditArb, { minLength: 1, maxLength: 3 });
