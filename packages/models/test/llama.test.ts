import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, DenseMatrix, Rng, type Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { lowRankFactorize } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generate,
  Llama2cCheckpoint,
  LlamaModel,
  llamaConfigFromHf,
  ModelFormatError,
  openHfLlama,
  type TensorSource,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const golden = JSON.parse(readFileSync(join(fixtures, 'llama-golden.json'), 'utf8')) as Record<
  string,
  number[][]
> & {
  ids: number[];
};
const ids = Int32Array.from(golden.ids);
const be = new CpuBackend();

/** Max |a − b| / max |b| over the whole table (core's maxRelativeError on the flattened rows). */
const relativeMaxError = (got: Tensor, table: number[][]) => maxRelativeError(got, table.flat());

async function logitsOf(source: TensorSource, config: Parameters<typeof LlamaModel.load>[1]) {
  const model = await LlamaModel.load(source, config, { backend: be });
  const out = await be.download(model.forward(ids, model.newCache()));
  model.dispose();
  return out;
}

describe('Llama adapter against transformers', () => {
  for (const name of ['tiny-llama', 'tiny-llama-scaled']) {
    it(`${name}: logits match LlamaForCausalLM to 1e-4 (GQA, ${name.endsWith('scaled') ? 'tied head, llama3 RoPE' : 'untied head'})`, async () => {
      const { config, source } = await openHfLlama(join(fixtures, name));
      expect(config.numKvHeads).toBe(2);
      const got = await logitsOf(source, config);
      await source.close();
      expect(relativeMaxError(got, golden[name])).toBeLessThan(1e-4);
    });
  }

  it('llama2.c v0 and v1 checkpoints of the same weights give the same logits (q/k rows permuted to HF layout)', async () => {
    for (const file of ['tiny-llama-v0.bin', 'tiny-llama-v1.bin']) {
      const ck = await Llama2cCheckpoint.open(join(fixtures, file));
      expect(ck.version).toBe(file.includes('v0') ? 0 : 1);
      expect(ck.config.tieWordEmbeddings).toBe(false);
      const got = await logitsOf(ck, ck.config);
      await ck.close();
      expect(relativeMaxError(got, golden['tiny-llama'])).toBeLessThan(1e-4);
    }
  });

  it('decoding token by token through the KV cache gives the logits of the full pass', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const model = await LlamaModel.load(source, config, { backend: be });
    await source.close();
    const cache = model.newCache();
    const prefix = model.forward(ids.subarray(0, 4), cache);
    be.dispose(prefix);
    for (let t = 4; t < ids.length; t++) {
      const step = await be.download(model.forward(ids.subarray(t, t + 1), cache));
      expect(relativeMaxError(step, [golden['tiny-llama'][t]])).toBeLessThan(1e-4);
    }
    expect(cache.length).toBe(ids.length);
    model.disposeCache(cache);
  });

  it('runs with linears replaced by structured matrices, through their factored forward', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const name = 'model.layers.1.mlp.up_proj';
    const W = await source.readTensor(`${name}.weight`);
    // full rank low-rank factors reproduce the layer exactly; rank 4 changes the logits
    const exact = await lowRankFactorize(W, 32);
    const cut = await lowRankFactorize(W, 4);
    const run = async (m: import('@blastkit/core').StructuredMatrix) => {
      const model = await LlamaModel.load(source, config, {
        backend: be,
        replacements: new Map([[name, m]]),
      });
      const out = await be.download(model.forward(ids, model.newCache()));
      const params = model.linearParameterCount();
      model.dispose();
      return { out, params };
    };
    const a = await run(exact);
    expect(relativeMaxError(a.out, golden['tiny-llama'])).toBeLessThan(1e-4);
    const b = await run(cut);
    expect(relativeMaxError(b.out, golden['tiny-llama'])).toBeGreaterThan(1e-3);
    expect(a.params - b.params).toBe((32 - 4) * (64 + 32));
    await expect(
      LlamaModel.load(source, config, {
        replacements: new Map([[name, new DenseMatrix(W.reshape([32, 64]))]]),
      }),
    ).rejects.toThrow(/replacement for 'model.layers.1.mlp.up_proj' has shape \[32,64\], expected \[64,32\]/);
    await source.close();
  });

  it('greedy generation is deterministic and seeded sampling repeats for a seed', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const model = await LlamaModel.load(source, config, { backend: be });
    await source.close();
    const greedy = await generate(model, [1, 5, 17], { maxTokens: 8, stopToken: -1 });
    expect(greedy).toHaveLength(8);
    // the first greedy token is the argmax of transformers' logits at the last prompt position
    const row = golden['tiny-llama'][2];
    expect(greedy[0]).toBe(row.indexOf(Math.max(...row)));
    const s1 = await generate(model, [1, 5, 17], {
      maxTokens: 8,
      temperature: 1,
      topP: 0.9,
      seed: 4,
      stopToken: -1,
    });
    const s2 = await generate(model, [1, 5, 17], {
      maxTokens: 8,
      temperature: 1,
      topP: 0.9,
      seed: 4,
      stopToken: -1,
    });
    expect(s1).toEqual(s2);
  });

  it('top-p sampling draws from the nucleus of the whole vocabulary sorted (llama2.c sample_topp)', async () => {
    const { config, source } = await openHfLlama(join(fixtures, 'tiny-llama'));
    const model = await LlamaModel.load(source, config, { backend: be });
    await source.close();
    // the definition: softmax at T, every token sorted by falling probability (index on ties), the shortest
    // prefix holding more than topP, one draw from it with the same seeded stream
    const reference = async (prompt: number[], temperature: number, topP: number, seed: number) => {
      const rng = new Rng(seed);
      const cache = model.newCache();
      const out: number[] = [];
      let input = Int32Array.from(prompt);
      for (let step = 0; step < 24; step++) {
        const logits = (await be.download(model.forward(input, cache, { lastOnly: true }))).data;
        const max = Math.max(...logits);
        const e = Array.from(logits, (l) => Math.exp((l - max) / temperature));
        const sum = e.reduce((a, b) => a + b, 0);
        const probs = e.map((x) => x / sum);
        const order = probs.map((_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
        let keep = order.length;
        for (let k = 0, mass = 0; k < order.length; k++) {
          mass += probs[order[k]];
          if (mass > topP) {
            keep = k + 1;
            break;
          }
        }
        const nucleus = order.slice(0, keep);
        const total = nucleus.reduce((a, i) => a + probs[i], 0);
        const r = rng.uniform() * total;
        let next = nucleus[nucleus.length - 1];
        for (let k = 0, acc = 0; k < nucleus.length; k++) {
          acc += probs[nucleus[k]];
          if (r < acc) {
            next = nucleus[k];
            break;
          }
        }
        out.push(next);
        input = Int32Array.of(next);
      }
      return out;
    };
    for (const [temperature, topP, seed] of [
      [1, 0.9, 1],
      [1.5, 0.5, 2],
      [0.7, 0.99, 3],
      [2, 0.95, 4],
    ])
      expect(
        await generate(model, [1, 5, 17], { maxTokens: 24, temperature, topP, seed, stopToken: -1 }),
      ).toEqual(await reference([1, 5, 17], temperature, topP, seed));
  });
});

describe('bad model files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blastkit-models-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a truncated llama2.c checkpoint names the size it should have', async () => {
    const bytes = readFileSync(join(fixtures, 'tiny-llama-v0.bin'));
    await writeFile(join(dir, 'cut.bin'), bytes.subarray(0, bytes.length - 100));
    await expect(Llama2cCheckpoint.open(join(dir, 'cut.bin'))).rejects.toThrow(
      new RegExp(
        `is ${bytes.length - 100} bytes but its header .* implies ${bytes.length} \\(truncated\\?\\)`,
      ),
    );
  });

  it('a header that is not llama2.c, and a v2 (int8) file, are refused', async () => {
    await writeFile(join(dir, 'junk.bin'), Buffer.from('this is not a checkpoint at all, just text......'));
    await expect(Llama2cCheckpoint.open(join(dir, 'junk.bin'))).rejects.toThrow(
      /header field .* is not plausible/,
    );
    const v1 = Buffer.from(readFileSync(join(fixtures, 'tiny-llama-v1.bin')));
    v1.writeInt32LE(2, 4);
    await writeFile(join(dir, 'v2.bin'), v1);
    await expect(Llama2cCheckpoint.open(join(dir, 'v2.bin'))).rejects.toThrow(/version 2 is not supported/);
  });

  it('a NaN weight is reported by tensor name when loading', async () => {
    const bytes = Buffer.from(readFileSync(join(fixtures, 'tiny-llama-v1.bin')));
    bytes.writeFloatLE(Number.NaN, 256 + 4 * 3); // inside the first layer's input norm
    await writeFile(join(dir, 'nan.bin'), bytes);
    const ck = await Llama2cCheckpoint.open(join(dir, 'nan.bin'));
    await expect(LlamaModel.load(ck, ck.config)).rejects.toThrow(
      /tensor 'model.layers.0.input_layernorm.weight' has NaN at flat index 3/,
    );
    await ck.close();
  });

  it('a config with impossible heads, and a weight of the wrong shape, give errors that say so', async () => {
    const json = JSON.parse(readFileSync(join(fixtures, 'tiny-llama', 'config.json'), 'utf8'));
    expect(() => llamaConfigFromHf({ ...json, num_key_value_heads: 3 })).toThrow(
      /4 attention heads are not a multiple of 3 kv heads/,
    );
    expect(() => llamaConfigFromHf({ ...json, hidden_size: -1 })).toThrow(
      /'hidden_size' must be a positive integer/,
    );
    await copyFile(join(fixtures, 'tiny-llama', 'model.safetensors'), join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...json, intermediate_size: 48 }));
    const { config, source } = await openHfLlama(dir);
    await expect(LlamaModel.load(source, config)).rejects.toThrow(
      /weight 'model.layers.0.mlp.gate_proj.weight' has shape \[64,32\], expected \[48,32\]/,
    );
    await source.close();
    expect(ModelFormatError.name).toBe('ModelFormatError');
  });
});
