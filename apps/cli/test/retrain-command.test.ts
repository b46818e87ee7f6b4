import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { cliBin as bin, modelFixtures, runCli as run } from './cli-harness.js';

// A tiny transformers-made Llama (the models package's fixture) as the teacher, compressed by `blastkit
// compress`, then re-trained for a few steps: the command end to end in seconds.
const teacher = join(modelFixtures, 'tiny-llama');
const dir = mkdtempSync(join(tmpdir(), 'blastkit-retrain-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  await run([
    'compress',
    teacher,
    '--method',
    'blast',
    '--ratio',
    '0.5',
    '--blocks',
    '2',
    '--steps',
    '20',
    '--out',
    join(dir, 'c'),
    '--quiet',
  ]);
}, 120_000);

describe('blastkit retrain', () => {
  it('distils, reports held-out perplexities, and writes a folder eval reads', async () => {
    const out = join(dir, 'r');
    const args = [
      'retrain',
      join(dir, 'c'),
      '--teacher',
      teacher,
      '--out',
      out,
      '--steps',
      '4',
      '--seq-len',
      '32',
    ];
    const small = ['--train-sequences', '8', '--eval-sequences', '2', '--engine', 'wasm,cpu', '--json'];
    const { out: json, err } = await run([...args, ...small]);
    const r = JSON.parse(json);
    expect(r.training.steps).toBe(4);
    expect(r.training.tokensPerStep).toBe(64);
    expect(r.evaluation.before.perplexity).toBeGreaterThan(r.evaluation.teacher.perplexity);
    expect(r.text).toMatch(/in-domain: 8 sequences of 32 tokens/);
    expect(r.evaluation.text).toMatch(/seed 1000003/);
    expect(err).toMatch(/retrain: 4\/4/);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const evaluated = JSON.parse(
      (await run(['eval', out, '--reference', teacher, '--max-tokens', '16', '--json'])).out,
    );
    expect(evaluated.comparison.klDivergence).toBeGreaterThan(0);
  }, 120_000);

  it('bad input is a usage error (exit 2) naming the problem', async () => {
    await expect(
      run(['retrain', join(dir, 'nope'), '--teacher', teacher, '--out', join(dir, 'x')]),
    ).rejects.toThrow(UsageError);
    await expect(
      run(['retrain', join(dir, 'c'), '--teacher', join(dir, 'c'), '--out', join(dir, 'x'), '--steps', '1']),
    ).rejects.toThrow(/must be the dense model/);
    const p = spawnSync(
      'node',
      [bin, 'retrain', join(dir, 'c'), '--teacher', teacher, '--out', join(dir, 'y'), '--steps', '0'],
      {
        encoding: 'utf8',
      },
    );
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/positive integer/);
  });
});
