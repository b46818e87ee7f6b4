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
