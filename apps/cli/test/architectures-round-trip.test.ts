import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHITECTURES, type ArchitectureEntry, type ModelTask, openModel } from '@blastkit/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelFixtures, runCli } from './cli-harness.js';

// Every registered architecture through the whole command line, on its committed fixture: compress (a
// calibrated method, so the calibration feed runs through the adapter's observe hook) → eval against the
// dense model → generate (decoders) → export --dense, and the export must agree with the compressed model.
// The list comes from the registry: a newly registered architecture is covered with no edit here.

let dir: string;
const at = (...p: string[]) => join(dir, ...p);

/** A character-level tokenizer.json over `vocab` ids (the fixtures have none): the first ids are letters. */
function charTokenizer(vocab: number) {
  const chars = " abcdefghijklmnopqrstuvwxyz.,!?'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const ids: Record<string, number> = {};
  for (let i = 0; i < vocab - 1; i++) ids[i < chars.length ? chars[i] : `<x${i}>`] = i;
  ids['<unk>'] = vocab - 1;
  return {
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      fuse_unk: false,
      byte_fallback: false,
      vocab: ids,
      merges: [],
    },
  };
}

/** Small evaluation settings per task, so each run takes a moment. */
const EVAL_FLAGS: Record<ModelTask, string[]> = {
  'causal-lm': ['--text', 'STORY', '--max-tokens', '48', '--window', '24', '--layer-inputs', '24'],
  'image-classification': ['--samples', '4', '--layer-inputs', '2'],
  diffusion: ['--samples', '2', '--layer-inputs', '1', '--sample-steps', '2', '--sample-images', '1'],
};

/** How far two models' outputs are apart, from an `eval --reference` JSON: 0 when they agree exactly. */
function disagreement(task: ModelTask, r: EvalJson): number {
  const first = r.records[0].result;
  switch (task) {
    case 'causal-lm':
      return Math.abs(r.comparison?.klDivergence ?? Number.NaN) + (1 - (r.comparison?.top1Agreement ?? 0));
    case 'image-classification': {
      const a = (first as { agreement: { top1: number; klDivergence: number } }).agreement;
      return Math.abs(a.klDivergence) + (1 - a.top1);
    }
    case 'diffusion':
      return (first as { epsilon: { relativeError: number } }).epsilon.relativeError;
  }
}

interface EvalJson {
  architecture: string;
  records: { metric: string; result: unknown }[];
  comparison?: { klDivergence: number; top1Agreement: number };
  layers?: { layers: { module: string; relativeError: number }[] };
}

async function cliJson<T>(args: string[]): Promise<T> {
  const { out } = await runCli([...args, '--json']);
  return JSON.parse(out) as T;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-round-trip-'));
  await writeFile(
    at('story.txt'),
    'once upon a time there was a little dog. the dog liked to run in the park with his friends. '.repeat(4),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the registry', () => {
  it('lists the architectures, each with a committed fixture', () => {
    expect(ARCHITECTURES.map((a) => a.name)).toEqual(expect.arrayContaining(['llama', 'gpt2', 'vit', 'dit']));
    for (const a of ARCHITECTURES)
      expect(existsSync(join(modelFixtures, a.fixture, 'config.json'))).toBe(true);
  });
});

describe.each(ARCHITECTURES.map((a) => [a.name, a] as const))('%s: the CLI round trip', (name, entry) => {
  it('compress → eval → generate (decoders) → export --dense, the export agreeing with the compressed model', async () => {
    const a = entry as ArchitectureEntry;
    const model = at(name);
    await cp(join(modelFixtures, a.fixture), model, { recursive: true });
    const opened = await openModel(model);
    const decoder = a.decoder;
    const vocab = decoder?.vocabSize(opened.config);
    await opened.source.close();
    if (vocab !== undefined && !existsSync(join(model, 'tokenizer.json')))
      await writeFile(join(model, 'tokenizer.json'), JSON.stringify(charTokenizer(vocab)));

    // compress: svd-llm takes calibration inputs, so the random feed runs through the observe hook
    const compressed = at(`${name}-svd`);
    const c = await cliJson<{
      architecture: string;
      modules: { name: string; relativeError: number }[];
      linearParameters: { ratio: number };
    }>([
      'compress',
      model,
      '--method',
      'svd-llm',
      '--ratio',
      '0.5',
      '--calibration',
      'random',
      '--calibration-tokens',
      '32',
      '--backend',
      'cpu',
      '--quiet',
      '--out',
      compressed,
    ]);
    expect(c.architecture).toBe(name);
    // every default target of every layer, each an approximation (not exact, not garbage)
    const targets = a
      .linearCandidates(opened.config)
      .filter((m) => a.defaultTargets.some((t) => m.endsWith(t)));
    expect(c.modules.map((m) => m.name)).toEqual(targets);
    for (const m of c.modules) expect(m.relativeError).toBeGreaterThan(0);
    for (const m of c.modules) expect(m.relativeError).toBeLessThan(1);
    expect(c.linearParameters.ratio).toBeLessThanOrEqual(0.5 + 1e-9);

    // eval against the dense model: the task's figures, and a per-layer error for every compressed linear
    const flags = EVAL_FLAGS[a.task].map((f) => (f === 'STORY' ? at('story.txt') : f));
    const ev = await cliJson<EvalJson>([
      'eval',
      compressed,
      '--reference',
      model,
      '--backend',
      'cpu',
      '--quiet',
      ...flags,
    ]);
    expect(ev.architecture).toBe(name);
    expect(ev.layers?.layers.map((l) => l.module).sort()).toEqual([...targets].sort());
    expect(disagreement(a.task, ev)).toBeGreaterThan(0);

    // export --dense: the structures multiplied out under the original names, no compression_config
    const exported = at(`${name}-dense`);
    const ex = await cliJson<{ architecture: string; format: string; modules: number }>([
      'export',
      compressed,
      '--dense',
      '--out',
      exported,
    ]);
    expect(ex).toMatchObject({ architecture: name, format: 'dense', modules: targets.length });
    const back = await cliJson<EvalJson>([
      'eval',
      exported,
      '--reference',
      compressed,
      '--backend',
      'cpu',
      '--quiet',
      ...flags,
    ]);
    expect(back.architecture).toBe(name);
    expect(disagreement(a.task, back)).toBeLessThan(1e-4);

    if (decoder) {
      // generate: the compressed folder and its dense export continue the prompt with the same greedy tokens
      const args = ['--prompt', 'once upon a', '--max-tokens', '6', '--backend', 'cpu'];
      const g = await cliJson<{ tokens: number[]; text: string }>(['generate', compressed, ...args]);
      const gd = await cliJson<{ tokens: number[] }>(['generate', exported, ...args]);
      expect(g.tokens.length).toBeGreaterThan(0);
      for (const t of g.tokens) expect(t).toBeLessThan(vocab as number);
      expect(gd.tokens).toEqual(g.tokens);
    } else {
      await expect(runCli(['generate', compressed, '--prompt', 'x', '--json'])).rejects.toThrow(
        /decoder language model/,
      );
    }
  });
});
