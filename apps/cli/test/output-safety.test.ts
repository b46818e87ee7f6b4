// Output safety and verified resume (issue 17): every command that writes normalizes its output path, refuses
// an output that is, contains or lies inside an input, never replaces what blastkit did not write, writes its
// folder whole (tokenizer included), and resumes only from checkpoints of the very same run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CompressMethod } from '@blastkit/models';
import { openSafetensors, writeSafetensors } from '@blastkit/safetensors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../src/commands/bench.js';
import { runRetrain } from '../src/commands/retrain.js';
import { InterruptedError, runCompress, runExport, runFactorize, UsageError } from '../src/index.js';
import { cliBin, modelFixtures } from './cli-harness.js';
import { tinyTokenizerJson } from './tiny-tokenizer.js';

let dir: string;
let dense: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-output-safety-'));
  dense = join(dir, 'dense');
  await cp(join(modelFixtures, 'tiny-llama'), dense, { recursive: true });
  await writeFile(join(dense, 'tokenizer.json'), tinyTokenizerJson());
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const compressArgs = ['--method', 'blast', '--ratio', '0.5', '--blocks', '4', '--steps', '10', '--quiet'];
const compressOptions = (out: string, model = dense) => ({
  model,
  method: 'blast' as CompressMethod,
  ratio: 0.5,
  blocks: 4,
  steps: 10,
  seed: 1,
  out,
});

function cli(args: string[]) {
  return spawnSync(process.execPath, [cliBin, ...args], { encoding: 'utf8' });
}

/** Every file under `root` with its bytes, for "untouched" checks. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (d: string, prefix: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
      else files[`${prefix}${e.name}`] = readFileSync(join(d, e.name)).toString('base64');
    }
  };
  walk(root, '');
  return files;
}

const leftovers = (root: string) =>
  readdirSync(root).filter((f) => /\.(tmp|old|partial)-|\.checkpoints$|\.checkpoint\./.test(f));

describe('compress --out', () => {
  it('a trailing slash writes the folder whole, tokenizer and marker included, and removes its checkpoints', () => {
    const work = join(dir, 'slash');
    const p = cli(['compress', dense, ...compressArgs, '--out', `${work}/m/`]);
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    expect(readdirSync(join(work, 'm')).sort()).toEqual([
      '.blastkit-output',
      'config.json',
      'model.safetensors',
      'tokenizer.json',
    ]);
    expect(readdirSync(work)).toEqual(['m']);
    expect(JSON.parse(readFileSync(join(work, 'm', '.blastkit-output'), 'utf8'))).toMatchObject({
      tool: 'blastkit',
      command: 'compress',
    });
  });

  it('the input as --out is refused (exit 2, both paths named) and the model is untouched', () => {
    const before = snapshot(dense);
    for (const out of [dense, `${dense}/`, `${dense}/./`]) {
      const p = cli(['compress', dense, ...compressArgs, '--out', out]);
      expect(p.status).toBe(2);
      expect(p.stderr).toMatch(/--out .* is the input /);
      expect(p.stderr).toContain(dense);
    }
    expect(snapshot(dense)).toEqual(before);
    expect(existsSync(`${dense}.checkpoints`)).toBe(false);
  });

  it('an output inside the input, around it, or a symlink to it is refused; nothing is written', async () => {
    const before = snapshot(dense);
    await symlink(dense, join(dir, 'alias'));
    const cases: [string, RegExp][] = [
      [join(dense, 'sub'), /lies inside the input/],
      [dir, /contains the input/],
      [join(dir, 'alias'), /is the input .*both are/],
    ];
    for (const [out, why] of cases) {
      const err = await runCompress(compressOptions(out)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(why);
    }
    expect(snapshot(dense)).toEqual(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('an existing folder blastkit did not write is never replaced (exit 2); an empty one is used', async () => {
    const mine = join(dir, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'thesis.tex'), 'years of work');
    const p = cli(['compress', dense, ...compressArgs, '--out', mine]);
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/was not written by blastkit \(no \.blastkit-output in it\)/);
    expect(readdirSync(mine)).toEqual(['thesis.tex']);
    expect(existsSync(`${mine}.checkpoints`)).toBe(false);

    const empty = join(dir, 'empty');
    await mkdir(empty);
    await runCompress(compressOptions(empty));
    expect(readdirSync(empty)).toContain('model.safetensors');
    // a folder blastkit wrote is replaced whole
    await runCompress({ ...compressOptions(empty), seed: 2 });
    const config = JSON.parse(readFileSync(join(empty, 'config.json'), 'utf8'));
    expect(config.compression_config.seed).toBe(2);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('export, retrain, factorize, bench --out', () => {
  it('export refuses its own input and a foreign folder; it writes the tokenizer into the folder', async () => {
    const m = join(dir, 'for-export');
    await runCompress(compressOptions(m));
    const before = snapshot(m);
    await expect(runExport({ dir: m, out: `${m}/`, dense: true })).rejects.toThrow(/is the input/);
    const mine = join(dir, 'mine');
    await expect(runExport({ dir: m, out: mine, dense: true })).rejects.toThrow(
      /was not written by blastkit/,
    );
    expect(readdirSync(mine)).toEqual(['thesis.tex']);
    expect(snapshot(m)).toEqual(before);
    await runExport({ dir: m, out: join(dir, 'exported'), dense: true });
    expect(readdirSync(join(dir, 'exported')).sort()).toEqual([
      '.blastkit-output',
      'config.json',
      'model.safetensors',
      'tokenizer.json',
    ]);
  });

  it('retrain refuses a foreign folder, and its input as --out, before any work', async () => {
    const m = join(dir, 'for-export');
    const options = { model: m, teacher: dense, steps: 1 };
    await expect(runRetrain({ ...options, out: join(dir, 'mine') })).rejects.toThrow(
      /was not written by blastkit/,
    );
    await expect(runRetrain({ ...options, out: m })).rejects.toThrow(/is the input/);
    await expect(runRetrain({ ...options, out: dense })).rejects.toThrow(/is the input/);
    expect(readdirSync(join(dir, 'mine'))).toEqual(['thesis.tex']);
  });

  it('factorize never overwrites its input file nor a file blastkit did not write', async () => {
    const weights = join(dense, 'model.safetensors');
    const before = readFileSync(weights);
    const options = {
      input: `${weights}:model.layers.0.mlp.up_proj.weight`,
      method: 'lowrank' as const,
      rank: 4,
    };
    await expect(runFactorize({ ...options, out: weights })).rejects.toThrow(/is the input/);
    await writeFile(join(dir, 'notes.safetensors'), 'not ours');
    await expect(runFactorize({ ...options, out: join(dir, 'notes.safetensors') })).rejects.toThrow(
      /was not written by blastkit/,
    );
    expect(readFileSync(weights).equals(before)).toBe(true);
    expect(readFileSync(join(dir, 'notes.safetensors'), 'utf8')).toBe('not ours');
    // its own output is replaced
    const out = join(dir, 'f.safetensors');
    await runFactorize({ ...options, out });
    await runFactorize({ ...options, rank: 3, out });
    const written = await openSafetensors(out);
    expect(written.metadata.rank).toBe('3');
    await written.close();
  });

  it('bench --out refuses a foreign folder', async () => {
    const err = await runBench('kernels', { quick: true, out: join(dir, 'mine') }, () => {}).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/was not written by blastkit/);
    expect(readdirSync(join(dir, 'mine'))).toEqual(['thesis.tex']);
  });
});

describe('compress --resume', () => {
  /** An interrupted run of compressOptions(out) after 3 modules. */
  async function interrupted(out: string) {
    const controller = new AbortController();
    await expect(
      runCompress({
        ...compressOptions(out),
        signal: controller.signal,
        onModule: (e) => {
          if (e.index === 2) controller.abort(new Error('interrupted'));
        },
      }),
    ).rejects.toThrow(InterruptedError);
    expect(readdirSync(`${out}.checkpoints`).filter((f) => f.endsWith('.safetensors'))).toHaveLength(3);
  }

  it('refuses checkpoints of another run, naming the first difference, and keeps them', async () => {
    const out = join(dir, 'cut');
    await interrupted(out);
    const before = snapshot(`${out}.checkpoints`);
    const resume = (o: Partial<ReturnType<typeof compressOptions>>) =>
      runCompress({ ...compressOptions(out), resume: true, ...o }).catch((e: Error) => e);
    const seed = await resume({ seed: 2 });
    expect(seed).toBeInstanceOf(UsageError);
    expect((seed as Error).message).toMatch(
      /--resume: .*cut\.checkpoints was written by another run \(seed: checkpoints 1, this run 2\)/,
    );
    expect((await resume({ ratio: 0.4 })) as Error).toHaveProperty(
      'message',
      expect.stringMatching(/\(ratio: checkpoints 0\.5, this run 0\.4\)/),
    );
    expect((await resume({ blocks: 2 })) as Error).toHaveProperty(
      'message',
      expect.stringMatching(/\(blocks: checkpoints 4, this run 2\)/),
    );
    expect((await resume({ steps: 11 })) as Error).toHaveProperty(
      'message',
      expect.stringMatching(/\(steps: /),
    );
    expect((await resume({ method: 'monarch' })) as Error).toHaveProperty(
      'message',
      expect.stringMatching(/\(method: checkpoints "blast", this run "monarch"\)/),
    );

    // other weights of the same names and shapes (another checkpoint of the same model, say)
    const other = join(dir, 'dense-other');
    await cp(dense, other, { recursive: true });
    const file = await openSafetensors(join(dense, 'model.safetensors'));
    const tensors = Object.fromEntries(
      await Promise.all(file.names().map(async (n) => [n, await file.readTensor(n)] as const)),
    );
    await file.close();
    tensors['model.layers.1.mlp.down_proj.weight'].data[0] += 0.5;
    await writeSafetensors(join(other, 'model.safetensors'), tensors, { format: 'pt' });
    const weights = await resume({ model: other });
    expect(weights).toBeInstanceOf(UsageError);
    expect((weights as Error).message).toMatch(
      /\(weights: checkpoints "[0-9a-f]{64}", this run "[0-9a-f]{64}"\)/,
    );

    expect(snapshot(`${out}.checkpoints`)).toEqual(before);
    expect(existsSync(out)).toBe(false);
    // the same run resumes
    const resumed = await runCompress({ ...compressOptions(out), resume: true });
    expect(resumed.resumedModules).toBe(3);
    expect(existsSync(`${out}.checkpoints`)).toBe(false);
  });

  it('refuses checkpoints that carry no fingerprint (an older blastkit), and entries of another run', async () => {
    const out = join(dir, 'old');
    await interrupted(out);
    await rm(join(`${out}.checkpoints`, 'run.json'));
    await expect(runCompress({ ...compressOptions(out), resume: true })).rejects.toThrow(
      /holds checkpoints without a run fingerprint/,
    );
    // an entry copied in from another run's checkpoints
    const a = join(dir, 'run-a');
    const b = join(dir, 'run-b');
    await interrupted(a);
    const controller = new AbortController();
    await expect(
      runCompress({
        ...compressOptions(b),
        seed: 5,
        signal: controller.signal,
        onModule: () => controller.abort(new Error('interrupted')),
      }),
    ).rejects.toThrow(InterruptedError);
    const entry = 'model.layers.0.self_attn.k_proj.safetensors';
    await cp(join(`${a}.checkpoints`, entry), join(`${b}.checkpoints`, entry));
    await expect(runCompress({ ...compressOptions(b), seed: 5, resume: true })).rejects.toThrow(
      /k_proj\.safetensors belongs to another run/,
    );
  });
});

describe('retrain --resume', () => {
  it('refuses a checkpoint made from other weights at the same path (same shapes), naming them', async () => {
    const student = join(dir, 'student');
    await runCompress(compressOptions(student));
    const out = join(dir, 'retrained');
    const options = {
      model: student,
      teacher: dense,
      out,
      steps: 4,
      seqLen: 32,
      trainSequences: 8,
      evalSequences: 0,
      engine: 'wasm,cpu',
    };
    const controller = new AbortController();
    await expect(
      runRetrain({ ...options, signal: controller.signal, onStep: () => controller.abort() }),
    ).rejects.toThrow(InterruptedError);
    expect(existsSync(`${out}.checkpoint.safetensors`)).toBe(true);
    // the student is compressed again into the same folder: other factors, the same names and shapes
    await runCompress({ ...compressOptions(student), steps: 3 });
    const err = await runRetrain({ ...options, resume: true }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(
      /--resume: .*retrained\.checkpoint\.safetensors was written by another run \(compressed: /,
    );
    expect(
      (await runRetrain({ ...options, seed: 3, resume: true }).catch((e: Error) => e)) as Error,
    ).toHaveProperty('message', expect.stringMatching(/another run \(compressed: /));
    // back to the original student: the run resumes and finishes, leaving only its folder
    await runCompress(compressOptions(student));
    const r = await runRetrain({ ...options, resume: true });
    expect(r.training.resumedFrom).toBe(1);
    expect(existsSync(`${out}.checkpoint.safetensors`)).toBe(false);
    expect(existsSync(`${out}.checkpoint.run.json`)).toBe(false);
    expect(readdirSync(out)).toContain('.blastkit-output');
  }, 120_000);
});
