import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  BlastMatrix,
  cpuKernels,
  Rng,
  relativeFrobeniusError,
  structuredFromNamedTensors,
  Tensor,
} from '@blastkit/core';
import { openSafetensors, writeNpy, writeSafetensors } from '@blastkit/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, InterruptedError, runFactorize, UsageError } from '../src/index.js';
import { cliBin as bin } from './cli-harness.js';

let dir: string;
let A: Tensor;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-cli-'));
  A = BlastMatrix.random(64, 48, 4, 6, new Rng(3)).toDense();
  const noise = new Tensor([64, 48]);
  new Rng(4).fillNormal(noise.data, 0.01);
  A = cpuKernels.add(A, noise);
  await writeNpy(join(dir, 'A.npy'), A);
  await writeSafetensors(join(dir, 'model.safetensors'), {
    'model.layers.0.mlp.up_proj.weight': A,
    'model.norm.weight': new Tensor([48]),
  });
  const bad = new Tensor([8, 8]);
  bad.data[5] = Number.POSITIVE_INFINITY;
  await writeNpy(join(dir, 'inf.npy'), bad);
  await writeNpy(join(dir, 'A3.npy'), new Tensor([2, 3, 4]));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const at = (name: string) => join(dir, name);

async function cli(args: string[]): Promise<unknown> {
  let out = '';
  await buildProgram({ out: (s) => (out += s), err: () => {} }).parseAsync(['node', 'blastkit', ...args]);
  return JSON.parse(out);
}

describe('blastkit factorize', () => {
  it('writes BLAST factors in the reference layout whose error is the one reported', async () => {
    const result = (await cli([
      'factorize',
      '--input',
      at('A.npy'),
      '--method',
      'blast',
      '--rank',
      '8',
      '--blocks',
      '4',
      '--seed',
      '2',
      '--out',
      at('blast.safetensors'),
      '--json',
    ])) as Record<string, unknown>;
    expect(result).toMatchObject({
      method: 'blast',
      kind: 'blast',
      shape: [64, 48],
      rank: 8,
      blocks: 4,
      seed: 2,
      backend: 'native', // --backend auto picks the native addon, which loads here
    });
    expect(result.parameters).toBe(8 * (64 + 48 + 16));
    expect(result.compressionRatio).toBeCloseTo((8 * 128) / (64 * 48), 12);
    expect(typeof result.seconds).toBe('number');
    const file = await openSafetensors(at('blast.safetensors'));
    expect(file.names().sort()).toEqual(['B', 'C', 'D']);
    expect(file.info('B').shape).toEqual([4, 16, 8]);
    expect(file.info('C').shape).toEqual([4, 8, 12]);
    expect(file.info('D').shape).toEqual([4, 4, 8]);
    expect(file.metadata).toMatchObject({
      format: 'blastkit-factors',
      kind: 'blast',
      method: 'blast',
      rank: '8',
      blocks: '4',
    });
    const tensors = {
      B: await file.readTensor('B'),
      C: await file.readTensor('C'),
      D: await file.readTensor('D'),
    };
    await file.close();
    const rebuilt = structuredFromNamedTensors('blast', tensors).toDense();
    expect(relativeFrobeniusError(rebuilt, A)).toBeCloseTo(result.relativeError as number, 6);
    // the exact structure (rank 6 < 8) plus 1% noise is found
    expect(result.relativeError).toBeLessThan(0.05);
  });

  it('is deterministic: the same seed gives byte-identical factors', async () => {
    const args = [
      'factorize',
      '--input',
      at('A.npy'),
      '--ratio',
      '0.4',
      '--blocks',
      '4',
      '--steps',
      '20',
      '--json',
    ];
    await cli([...args, '--out', at('d1.safetensors')]);
    await cli([...args, '--out', at('d2.safetensors')]);
    const [f1, f2] = [
      await openSafetensors(at('d1.safetensors')),
      await openSafetensors(at('d2.safetensors')),
    ];
    for (const name of ['B', 'C', 'D'])
      expect((await f1.readTensor(name)).data).toEqual((await f2.readTensor(name)).data);
    await f1.close();
    await f2.close();
  });

  it('reads a named tensor from a safetensors model and runs every method', async () => {
    const input = `${at('model.safetensors')}:model.layers.0.mlp.up_proj.weight`;
    const cases: [string, string[], string, number][] = [
      ['blast-precgd', ['--rank', '8', '--blocks', '4', '--steps', '30'], 'blast', 8 * 128],
      ['lowrank', ['--ratio', '0.5'], 'low-rank', 13 * 112], // ⌊0.5·64·48/112⌋ = 13
      ['monarch', ['--rank', '4', '--blocks', '4'], 'monarch', 4 * 4 * 112],
      ['block-diag', ['--blocks', '4'], 'block-diagonal', (64 * 48) / 4],
    ];
    for (const [method, extra, kind, parameters] of cases) {
      const r = (await cli([
        'factorize',
        '--input',
        input,
        '--method',
        method,
        ...extra,
        '--out',
        at(`${method}.safetensors`),
        '--json',
      ])) as Record<string, unknown>;
      expect(r).toMatchObject({ method, kind, parameters });
      expect(r.relativeError).toBeGreaterThan(0);
      expect(r.relativeError).toBeLessThan(1);
    }
  });

  it('blast-data uses calibration inputs and reports the output error', async () => {
    const X = new Tensor([200, 48]);
    new Rng(9).fillNormal(X.data);
    await writeNpy(at('X.npy'), X);
    const r = (await cli([
      'factorize',
      '--input',
      at('A.npy'),
      '--method',
      'blast-data',
      '--rank',
      '8',
      '--blocks',
      '4',
      '--calibration',
      at('X.npy'),
      '--out',
      at('data.safetensors'),
      '--json',
    ])) as Record<string, number>;
    expect(r.outputError).toBeGreaterThan(0);
    expect(r.outputError).toBeLessThan(0.1);
  });

  it('the reference rank rule gives ⌊β·mn/(m+n)⌋ rounded down to a multiple of 16', async () => {
    const big = new Tensor([256, 128]);
    new Rng(1).fillNormal(big.data);
    await writeNpy(at('big.npy'), big);
    const r = (await cli([
      'factorize',
      '--input',
      at('big.npy'),
      '--method',
      'lowrank',
      '--ratio',
      '0.5',
      '--rank-rule',
      'reference',
      '--out',
      at('ref.safetensors'),
      '--json',
    ])) as Record<string, number>;
    expect(r.rank).toBe(32); // ⌊0.5·256·128/384⌋ = 42 → 32
  });

  it('rejects bad input with clear usage errors and writes nothing', async () => {
    const out = at('never.safetensors');
    const cases: [Parameters<typeof runFactorize>[0], RegExp][] = [
      [{ input: at('inf.npy'), method: 'blast', rank: 2, blocks: 2, out }, /entry \(0, 5\) is Infinity/],
      [
        { input: at('A.npy'), method: 'blast', rank: 2, blocks: 5, out },
        /5 blocks must divide both sides of the 64×48/,
      ],
      [
        { input: at('A.npy'), method: 'blast', ratio: 0.001, blocks: 4, out },
        /cannot fit 0.001 of a 64×48 matrix/,
      ],
      [{ input: at('A.npy'), method: 'blast', out }, /exactly one of --rank and --ratio/],
      [{ input: at('A.npy'), method: 'blast-data', rank: 2, out }, /needs --calibration/],
      [{ input: at('missing.npy'), method: 'blast', rank: 2, out }, /missing\.npy/],
      [{ input: at('model.safetensors'), method: 'lowrank', rank: 2, out }, /holds 1 matrices|model\.layers/],
      [{ input: `${at('model.safetensors')}:nope`, method: 'lowrank', rank: 2, out }, /has no tensor 'nope'/],
      [
        { input: `${at('model.safetensors')}:model.norm.weight`, method: 'lowrank', rank: 2, out },
        /a matrix \(2-D\) is needed/,
      ],
      [
        { input: at('A.npy'), method: 'lowrank', rank: 2, backend: 'warp-drive', out },
        /unknown backend 'warp-drive'/,
      ],
      [
        // backend-cuda is not a package of this workspace yet: the optional import fails with a clear message
        { input: at('A.npy'), method: 'lowrank', rank: 2, backend: 'cuda', out },
        /--backend cuda: .*use --backend auto or cpu/,
      ],
    ];
    for (const [options, message] of cases) {
      const run = runFactorize(options);
      if (options.input.endsWith('model.safetensors') && options.method === 'lowrank') {
        // one 2-D tensor: taken without a name
        await expect(run).resolves.toMatchObject({ shape: [64, 48] });
        await rm(out, { force: true });
        continue;
      }
      await expect(run).rejects.toThrow(UsageError);
      await expect(runFactorize(options)).rejects.toThrow(message);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('an interrupted run stops with InterruptedError and leaves no output', async () => {
    const controller = new AbortController();
    const run = runFactorize({
      input: at('A.npy'),
      method: 'blast-precgd',
      rank: 8,
      blocks: 4,
      steps: 300,
      out: at('cut.safetensors'),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.step === 5) controller.abort(new Error('interrupted'));
      },
    });
    await expect(run).rejects.toThrow(InterruptedError);
    expect(existsSync(at('cut.safetensors'))).toBe(false);
  });

  it('the installed command exits 0 on success, 2 on bad arguments or files, with the message on stderr', async () => {
    const run = promisify(execFile);
    const ok = await run(process.execPath, [
      bin,
      'factorize',
      '--input',
      at('A.npy'),
      '--method',
      'lowrank',
      '--rank',
      '4',
      '--out',
      at('bin.safetensors'),
      '--json',
      '--quiet',
    ]);
    expect(JSON.parse(ok.stdout).rank).toBe(4);
    for (const args of [
      ['factorize', '--input', at('A3.npy'), '--rank', '4', '--out', at('x.safetensors')],
      ['factorize', '--input', at('A.npy'), '--method', 'nope', '--rank', '4', '--out', at('x.safetensors')],
    ]) {
      const failed = await run(process.execPath, [bin, ...args]).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect((failed as { code: number }).code).toBe(2);
      expect((failed as { stderr: string }).stderr).toMatch(
        /shape \[2,3,4\]; a matrix \(2-D\) is needed|'nope' is invalid/,
      );
    }
  });
});
