// End to end: the built `blastkit` in a child process, on malformed inputs of every format (generated from
// valid files by seeded mutations, kept when the in-process reader rejects them, plus fixed cases). Each run
// must exit 2, name the file on stderr, print no stack trace, and write nothing.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '@blastkit/core';
import { HfTokenizer, Llama2cCheckpoint } from '@blastkit/models';
import { openSafetensors, readNpy, writeNpy } from '@blastkit/safetensors';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBudgetFile } from '../src/io/selection.js';
import { cliBin, modelFixtures } from './cli-harness.js';
import { editJson, FUZZ_SEED, jsonEditsArb, mutate, mutationsArb } from './fuzz-harness.js';

/** Child-process runs per format: each costs a Node start, so far fewer than the in-process properties. */
const PER_FORMAT = Number(process.env.BLASTKIT_FUZZ_CLI_RUNS ?? 8);

let dir: string;
let counter = 0;
const caseDir = async () => {
  const d = join(dir, `case-${counter++}`);
  await mkdir(d);
  return d;
};
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-e2e-'));
});
// thousands of case folders: removing them takes seconds on a loaded machine (the 10 s default hook timeout
// failed a CI run)
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
}, 120_000);

function blastkit(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliBin, ...args],
      { timeout: 60_000, env: { ...process.env, BLASTKIT_DEBUG: '' } },
      (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

/** Runs every case (two at a time: two cores), checking exit 2, the file named, no stack, no output written. */
async function expectAllExit2(cases: { args: string[]; names: string; out?: string }[]): Promise<void> {
  expect(cases.length).toBeGreaterThanOrEqual(Math.min(PER_FORMAT, 4));
  for (let i = 0; i < cases.length; i += 2) {
    await Promise.all(
      cases.slice(i, i + 2).map(async ({ args, names, out }) => {
        const { code, stderr } = await blastkit(args);
        const what = `blastkit ${args.join(' ')}\n${stderr}`;
        expect(code, what).toBe(2);
        expect(stderr, what).toContain(names);
        expect(stderr, what).not.toMatch(/\n\s+at /);
        if (out !== undefined) {
          expect(existsSync(out), `${what}: wrote ${out}`).toBe(false);
          expect(existsSync(`${out}.checkpoints`), `${what}: wrote checkpoints`).toBe(false);
        }
      }),
    );
  }
}

/** Up to PER_FORMAT generated inputs that `rejects` turns down in-process (the CLI must then exit 2). */
async function rejectedSamples<T>(arb: fc.Arbitrary<T>, rejects: (value: T) => Promise<string | undefined>) {
  const kept: string[] = [];
  for (const value of fc.sample(arb, { seed: FUZZ_SEED, numRuns: PER_FORMAT * 6 })) {
    const made = await rejects(value);
    if (made !== undefined) kept.push(made);
    if (kept.length === PER_FORMAT) break;
  }
  return kept;
}
const rejectedBy = async (read: () => Promise<unknown>) =>
  read().then(
    () => false,
    () => true,
  );

const tinyLlama = join(modelFixtures, 'tiny-llama');
const tokenizerJson = {
  added_tokens: [
    { id: 0, content: '<unk>', special: true },
    { id: 1, content: '<s>', special: true },
  ],
  pre_tokenizer: { type: 'Whitespace' },
  model: {
    type: 'BPE',
    unk_token: '<unk>',
    vocab: { '<unk>': 0, '<s>': 1, h: 2, i: 3, hi: 4 },
    merges: ['h i'],
  },
};

describe(`blastkit on malformed inputs, in a child process (${PER_FORMAT} per format)`, () => {
  it('config.json (compression_config null among them): inspect exits 2 naming config.json', async () => {
    const base = JSON.parse(readFileSync(join(tinyLlama, 'config.json'), 'utf8'));
    const fixed = [
      '{"model_type": "llama",',
      '[]',
      'null',
      JSON.stringify({ ...base, compression_config: null }),
      JSON.stringify({
        ...base,
        compression_config: { format_version: 1, method: 'x', modules: { a: null } },
      }),
    ];
    const generated = fc
      .sample(jsonEditsArb, { seed: FUZZ_SEED, numRuns: 40 })
      .map((e) => JSON.stringify(editJson(base, e)) ?? '');
    const cases = [];
    for (const text of [...fixed, ...generated]) {
      const d = await caseDir();
      await symlink(join(tinyLlama, 'model.safetensors'), join(d, 'model.safetensors'));
      await writeFile(join(d, 'config.json'), text);
      // only the ones the CLI refuses in-process count (an edit may leave a valid config)
      if (cases.length < fixed.length || (await blastkitRejectsInProcess(d)))
        cases.push({ args: ['inspect', d], names: d });
      if (cases.length >= PER_FORMAT + fixed.length) break;
    }
    await expectAllExit2(cases);
  });

  it('model.safetensors (mutated) and model.safetensors.index.json: inspect exits 2 naming the file', async () => {
    const valid = new Uint8Array(readFileSync(join(tinyLlama, 'model.safetensors')));
    const files = await rejectedSamples(mutationsArb(200), async (m) => {
      const d = await caseDir();
      await cp(join(tinyLlama, 'config.json'), join(d, 'config.json'));
      await writeFile(join(d, 'model.safetensors'), mutate(valid, m));
      return (await rejectedBy(async () => (await openSafetensors(join(d, 'model.safetensors'))).close()))
        ? d
        : undefined;
    });
    const cases = files.map((d) => ({ args: ['inspect', d], names: join(d, 'model.safetensors') }));
    for (const index of [
      '{"weight_map": ',
      '{"weight_map": {"a": "../x.safetensors"}}',
      '{"weight_map": {"a": "nope.safetensors"}}',
      '[]',
    ]) {
      const d = await caseDir();
      await cp(join(tinyLlama, 'config.json'), join(d, 'config.json'));
      await writeFile(join(d, 'model.safetensors.index.json'), index);
      cases.push({ args: ['inspect', d], names: d });
    }
    await expectAllExit2(cases);
  });

  it('llama2.c .bin (header fields, truncation): inspect exits 2 naming the file', async () => {
    const valid = new Uint8Array(readFileSync(join(modelFixtures, 'tiny-llama-v1.bin')));
    const files = await rejectedSamples(fc.oneof(mutationsArb(), mutationsArb(40)), async (m) => {
      const path = join(await caseDir(), 'model.bin');
      await writeFile(path, mutate(valid, m));
      return (await rejectedBy(async () => (await Llama2cCheckpoint.open(path)).close())) ? path : undefined;
    });
    await expectAllExit2(files.map((path) => ({ args: ['inspect', path], names: path })));
  });

  it('tokenizer.bin, tokenizer.json and tokenizer_config.json: generate exits 2 naming the file', async () => {
    const cases = [];
    const bins = fc.sample(fc.uint8Array({ maxLength: 64 }), { seed: FUZZ_SEED, numRuns: PER_FORMAT });
    for (const bytes of bins) {
      const path = join(await caseDir(), 'tokenizer.bin');
      await writeFile(path, bytes);
      cases.push({
        args: ['generate', tinyLlama, '--prompt', 'hi', '--max-tokens', '2', '--tokenizer', path],
        names: path,
      });
    }
    const jsons = await rejectedSamples(jsonEditsArb, async (edits) => {
      const d = await caseDir();
      await writeFile(join(d, 'tokenizer.json'), JSON.stringify(editJson(tokenizerJson, edits)) ?? '');
      const path = join(d, 'tokenizer.json');
      const bad = await rejectedBy(async () => {
        const t = await HfTokenizer.load(path);
        t.decode(t.encode('hi', { bos: true }));
      });
      return bad ? path : undefined;
    });
    for (const path of jsons)
      cases.push({
        args: ['generate', tinyLlama, '--prompt', 'hi', '--max-tokens', '2', '--tokenizer', path],
        names: path,
      });
    for (const config of [
      '{"bos_token": ',
      '[1]',
      'null',
      '{"bos_token": 5}',
      '{"eos_token": {"content": 3}}',
    ]) {
      const d = await caseDir();
      await writeFile(join(d, 'tokenizer.json'), JSON.stringify(tokenizerJson));
      await writeFile(join(d, 'tokenizer_config.json'), config);
      const path = join(d, 'tokenizer.json');
      if (await rejectedBy(() => HfTokenizer.load(path)))
        cases.push({
          args: ['generate', tinyLlama, '--prompt', 'hi', '--max-tokens', '2', '--tokenizer', path],
          names: d,
        });
    }
    await expectAllExit2(cases);
  });

  it('.npy (--input, --calibration) and the --budget plan: factorize and compress exit 2, writing nothing', async () => {
    const npyPath = join(dir, 'valid.npy');
    await writeNpy(
      npyPath,
      new Tensor(
        [8, 4],
        Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)),
      ),
    );
    const valid = new Uint8Array(readFileSync(npyPath));
    const npys = await rejectedSamples(fc.oneof(mutationsArb(), mutationsArb(128)), async (m) => {
      const path = join(await caseDir(), 'A.npy');
      await writeFile(path, mutate(valid, m));
      return (await rejectedBy(() => readNpy(path))) ? path : undefined;
    });
    const cases = npys.flatMap((path, i) => {
      const out = join(dir, `factors-${i}.safetensors`);
      return i % 2 === 0
        ? [
            {
              args: ['factorize', '--input', path, '--method', 'lowrank', '--rank', '2', '--out', out],
              names: path,
              out,
            },
          ]
        : [
            {
              args: [
                'factorize',
                '--input',
                npyPath,
                '--method',
                'blast-data',
                '--rank',
                '2',
                '--blocks',
                '2',
                '--calibration',
                path,
                '--out',
                out,
              ],
              names: path,
              out,
            },
          ];
    });
    const plan = { plan: { layers: [{ name: 'model.layers.0.self_attn.q_proj', rank: 4 }] } };
    const plans = await rejectedSamples(jsonEditsArb, async (edits) => {
      const path = join(await caseDir(), 'plan.json');
      await writeFile(path, JSON.stringify(editJson(plan, edits)) ?? '');
      return (await rejectedBy(() => readBudgetFile(path))) ? path : undefined;
    });
    for (const text of ['{"plan": {"layers": []}}', 'null', '{"layers": [{"name": "x", "rank": 0}]}']) {
      const path = join(await caseDir(), 'plan.json');
      await writeFile(path, text);
      plans.push(path);
    }
    plans.forEach((path, i) => {
      const out = join(dir, `compressed-${i}`);
      cases.push({
        args: ['compress', tinyLlama, '--method', 'lowrank', '--budget', path, '--out', out],
        names: path,
        out,
      });
    });
    await expectAllExit2(cases);
  });
});

/** Whether openModel refuses a folder (then `inspect` must exit 2). */
async function blastkitRejectsInProcess(d: string): Promise<boolean> {
  const { openModel } = await import('../src/io/model-input.js');
  return openModel(d).then(
    async (o) => {
      await o.source.close();
      return false;
    },
    () => true,
  );
}
