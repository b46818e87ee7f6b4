// Property-based tests of the inputs the CLI reads itself or through the libraries, as the commands do: a
// model folder's config.json (every architecture, and a compressed folder's compression_config and its
// modules), the --budget plan and .npy matrices (--input, --calibration). Each either works or throws an error
// the command exits 2 for (isInputError) whose message names the file — never a TypeError, RangeError or
// SyntaxError, never a hang, never a leaked file handle.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuBackend, Tensor } from '@blastkit/core';
import { writeNpy } from '@blastkit/safetensors';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCompress } from '../src/index.js';
import { disposeModel, loadModel } from '../src/io/architecture.js';
import { isInputError } from '../src/io/input-errors.js';
import { readMatrixArgument } from '../src/io/matrix-input.js';
import { openModel } from '../src/io/model-input.js';
import { readBudgetFile } from '../src/io/selection.js';
import { modelFixtures } from './cli-harness.js';
import {
  editJson,
  FUZZ_PARAMS,
  FUZZ_RUNS,
  jsonEditsArb,
  mutate,
  mutationsArb,
  openFileCount,
} from './fuzz-harness.js';

const be = new CpuBackend();
let dir: string;
let counter = 0;
const caseDir = async () => {
  const d = join(dir, `case-${counter++}`);
  await mkdir(d);
  return d;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-fuzz-'));
  // a compressed Llama folder: config.json with compression_config, factors in model.safetensors
  await runCompress({
    model: join(modelFixtures, 'tiny-llama'),
    method: 'lowrank',
    ratio: 0.5,
    targetModules: ['q_proj', 'down_proj'],
    seed: 1,
    out: join(dir, 'compressed'),
  });
}, 120_000);
// thousands of case folders: removing them takes seconds on a loaded machine (the 10 s default hook timeout
// failed a CI run)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
}, 120_000);

/** Checks a thrown error: one the command exits 2 for, its message naming one of `names`, no stack trace. */
function expectInputError(err: unknown, names: readonly string[]): void {
  if (!isInputError(err))
    throw new Error(`expected an input error (exit 2), got ${String((err as Error)?.stack ?? err)}`);
  const message = (err as Error).message;
  expect(
    names.some((n) => message.includes(n)),
    `${message} should name one of ${names.join(', ')}`,
  ).toBe(true);
  expect(message).not.toMatch(/\n\s+at /);
}

async function withoutLeaks(run: () => Promise<void>): Promise<void> {
  const before = openFileCount();
  await run();
  expect(openFileCount()).toBe(before);
}

describe(`config.json fuzz, every architecture and compression_config (${FUZZ_RUNS} cases)`, () => {
  const folders = ['tiny-llama', 'tiny-gpt2', 'tiny-vit', 'tiny-dit', 'compressed'];
  const folderPath = (name: string) => (name === 'compressed' ? join(dir, name) : join(modelFixtures, name));
  const configs = () =>
    Object.fromEntries(
      folders.map((f) => [f, JSON.parse(readFileSync(join(folderPath(f), 'config.json'), 'utf8'))]),
    );

  it('edited config.json: the model opens and loads, or an exit-2 error naming the folder', async () => {
    const base = configs();
    let rejected = 0;
    let loaded = 0;
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...folders),
          jsonEditsArb,
          fc.option(fc.nat(), { freq: 10 }),
          async (folder, edits, cut) => {
            const d = await caseDir();
            await symlink(join(folderPath(folder), 'model.safetensors'), join(d, 'model.safetensors'));
            const text = JSON.stringify(editJson(base[folder], edits)) ?? '';
            await writeFile(
              join(d, 'config.json'),
              cut === null ? text : text.slice(0, cut % (text.length + 1)),
            );
            try {
              const opened = await openModel(d);
              try {
                disposeModel(await loadModel(opened, be));
                loaded++;
              } finally {
                await opened.source.close();
              }
            } catch (err) {
              expectInputError(err, [d]);
              rejected++;
            }
          },
        ),
        FUZZ_PARAMS,
      ),
    );
    expect(rejected).toBeGreaterThan(FUZZ_RUNS / 4);
    expect(loaded).toBeGreaterThan(0);
  });

  it('compression_config null, a list, a string, modules of every wrong type: exit-2 errors naming config.json', async () => {
    const base = configs().compressed;
    const values = [
      null,
      [],
      'blast',
      3,
      { ...base.compression_config, modules: null },
      { ...base.compression_config, modules: [] },
    ];
    for (const value of values) {
      const d = await caseDir();
      await symlink(join(dir, 'compressed', 'model.safetensors'), join(d, 'model.safetensors'));
      await writeFile(join(d, 'config.json'), JSON.stringify({ ...base, compression_config: value }));
      const err = await openModel(d).then(
        async (o) => {
          await o.source.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      // `modules: null` reads as "no modules": the factors are then unknown weights, refused when loading
      if (err !== undefined) expectInputError(err, [join(d, 'config.json')]);
      else expect(value).toMatchObject({ modules: null });
    }
  });
});

describe(`--budget plan fuzz (${FUZZ_RUNS} cases)`, () => {
  const valid = {
    plan: {
      layers: [
        { name: 'model.layers.0.self_attn.q_proj', rank: 4, parameters: 256 },
        { name: 'model.layers.1.mlp.down_proj', rank: 8 },
      ],
    },
  };
  it('edited plans: ranks by module, or an exit-2 error naming the file; an empty plan is refused', async () => {
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(jsonEditsArb, fc.option(fc.nat(), { freq: 10 }), async (edits, cut) => {
          const path = join(await caseDir(), 'plan.json');
          const text = JSON.stringify(editJson(valid, edits)) ?? '';
          await writeFile(path, cut === null ? text : text.slice(0, cut % (text.length + 1)));
          try {
            const ranks = await readBudgetFile(path);
            expect(ranks.size).toBeGreaterThan(0);
            for (const [name, rank] of ranks) {
              expect(typeof name).toBe('string');
              expect(Number.isSafeInteger(rank) && rank >= 1).toBe(true);
            }
          } catch (err) {
            expectInputError(err, [path]);
          }
        }),
        FUZZ_PARAMS,
      ),
    );
    const empty = join(await caseDir(), 'empty.json');
    await writeFile(empty, JSON.stringify({ plan: { layers: [] } }));
    await expect(readBudgetFile(empty)).rejects.toThrow(/the plan has no layers/);
  });
});

describe(`matrix and calibration .npy fuzz (${FUZZ_RUNS} cases)`, () => {
  it('mutated .npy files as --input / --calibration: a matrix, or an exit-2 error naming the file', async () => {
    const validPath = join(dir, 'valid.npy');
    await writeNpy(
      validPath,
      new Tensor(
        [4, 3],
        Float32Array.from({ length: 12 }, (_, i) => i),
      ),
    );
    const valid = new Uint8Array(readFileSync(validPath));
    await withoutLeaks(() =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(mutationsArb(), mutationsArb(128)),
          fc.constantFrom('input', 'calibration'),
          async (m, what) => {
            const path = join(await caseDir(), 'X.npy');
            await writeFile(path, mutate(valid, m));
            try {
              expect((await readMatrixArgument(path, what)).rank).toBe(2);
            } catch (err) {
              expectInputError(err, [path]);
            }
          },
        ),
        FUZZ_PARAMS,
      ),
    );
  });
});
