import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend, DenseMatrix, type StructuredMatrix, Tensor } from '@blastkit/core';
import { maxRelativeError } from '@blastkit/core/test';
import { lowRankFactorize } from '@blastkit/factorize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import { type Gpt2Config, gpt2ConfigFromHf, gpt2WeightShapes } from '../src/gpt2/config.js';
import { GPT2_LINEAR_MODULES, Gpt2Model, openHfGpt2 } from '../src/gpt2/model.js';
import { ModelFormatError, type TensorSource } from '../src/tensor-source.js';

/** Largest relative error against the golden logits: the README's "~1e-6": measured 4.5e-7 to 7.4e-7 on the CPU backend (float32 against float64 PyTorch). */
const TOLERANCE = 1e-6;

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const tinyGpt2 = join(fixtures, 'tiny-gpt2');
const golden = JSON.parse(readFileSync(join(fixtures, 'gpt2-golden.json'), 'utf8')) as {
  ids: number[];
  variant: Record<string, boolean>;
  'tiny-gpt2': number[][];
  'tiny-gpt2-variant': number[][];
};
const ids = Int32Array.from(golden.ids);
const want = golden['tiny-gpt2'];
const be = new CpuBackend();

/** Max |a − b| / max |b| over the whole table (core's maxRelativeError on the flattened rows). */
const relativeMaxError = (got: Tensor, table: number[][]) => maxRelativeError(got, table.flat());

async function logitsOf(
  source: TensorSource,
  config: Gpt2Config,
  replacements?: Map<string, StructuredMatrix>,
) {
  const model = await Gpt2Model.load(source, config, { backend: be, replacements });
  const out = await be.download(model.forward(ids, model.newCache()));
  const params = model.linearParameterCount();
  model.dispose();
  return { out, params };
}

/** A source whose tensors are renamed (and optionally extended) — other checkpoint layouts of the same weights. */
function renamed(
  source: TensorSource,
  rename: (name: string) => string,
  extra: Map<string, Tensor> = new Map(),
): TensorSource {
  const back = new Map(source.names().map((n) => [rename(n), n]));
  return {
    names: () => [...back.keys(), ...extra.keys()],
    shapeOf: (n) => extra.get(n)?.shape ?? source.shapeOf(back.get(n) as string),
    readTensor: async (n) => extra.get(n) ?? source.readTensor(back.get(n) as string),
    close: () => source.close(),
  };
}

function transpose(w: Tensor): Tensor {
  const [r, c] = w.shape;
  const out = new Tensor([c, r]);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.data[j * r + i] = w.data[i * c + j];
  return out;
}

describe('GPT-2 adapter against transformers', () => {
  it('reads config.json: gelu_new runs as the tanh GELU, n_inner null is 4·n_embd, EOS for generation', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    await source.close();
    expect(config).toMatchObject({
      nEmbd: 32,
      nLayer: 2,
      nHead: 4,
      headDim: 8,
      nInner: 128,
      nPositions: 64,
      vocabSize: 64,
      activationFunction: 'gelu_new',
      activation: 'gelu_tanh',
      scaleAttnWeights: true,
      tieWordEmbeddings: true,
      eosTokenId: 1,
    });
    const shapes = gpt2WeightShapes(config);
    // Conv1D weights are [in, out] in the file
    expect(shapes.get('transformer.h.0.attn.c_attn.weight')).toEqual([32, 96]);
    expect(shapes.get('transformer.h.1.mlp.c_proj.weight')).toEqual([128, 32]);
    expect(shapes.has('lm_head.weight')).toBe(false);
  });

  it('logits match GPT2LMHeadModel to 1e-6 (tied head, fused c_attn, biases everywhere)', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const { out, params } = await logitsOf(source, config);
    await source.close();
    expect(out.shape).toEqual([10, 64]);
    expect(relativeMaxError(out, want)).toBeLessThan(TOLERANCE);
    // the 4 block linears' weights (biases stay dense and are not counted): 2 · (3E² + E² + 2·4E²)
    expect(params).toBe(2 * (3 + 1 + 8) * 32 * 32);
  });

  it('scale_attn_weights=false, scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn match transformers', async () => {
    const { config: base, source } = await openHfGpt2(tinyGpt2);
    const json = JSON.parse(readFileSync(join(tinyGpt2, 'config.json'), 'utf8'));
    const config = gpt2ConfigFromHf({ ...json, ...golden.variant });
    expect(config).toMatchObject({
      scaleAttnWeights: false,
      scaleAttnByInverseLayerIdx: true,
      reorderAndUpcastAttn: true,
    });
    const { out } = await logitsOf(source, config);
    expect(relativeMaxError(out, golden['tiny-gpt2-variant'])).toBeLessThan(TOLERANCE);
    // and the variant really differs from the base model's logits
    expect(relativeMaxError(out, want)).toBeGreaterThan(1e-2);
    expect(base.scaleAttnByInverseLayerIdx).toBe(false);
    await source.close();
  });

  it('loads a GPT2Model checkpoint (no `transformer.` prefix) and an untied head', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const bare = renamed(source, (n) => n.replace(/^transformer\./, ''));
    expect(bare.names()).toContain('h.0.attn.c_attn.weight');
    expect((await logitsOf(bare, config)).out.data).toEqual((await logitsOf(source, config)).out.data);
    // an untied head holding the embedding's values gives the same logits
    const wte = await source.readTensor('transformer.wte.weight');
    const untied = renamed(source, (n) => n, new Map([['lm_head.weight', wte]]));
    const { out } = await logitsOf(untied, { ...config, tieWordEmbeddings: false });
    expect(relativeMaxError(out, want)).toBeLessThan(TOLERANCE);
    await expect(Gpt2Model.load(source, { ...config, tieWordEmbeddings: false })).rejects.toThrow(
      /missing weight 'lm_head.weight' \(shape \[64,32\]\)/,
    );
    await source.close();
  });

  it('decoding token by token through the KV cache gives the logits of the full pass', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const model = await Gpt2Model.load(source, config, { backend: be });
    await source.close();
    const cache = model.newCache();
    const prefix = await be.download(model.forward(ids.subarray(0, 4), cache, { lastOnly: true }));
    expect(prefix.shape).toEqual([1, 64]);
    expect(relativeMaxError(prefix, [want[3]])).toBeLessThan(TOLERANCE);
    for (let t = 4; t < ids.length; t++) {
      const step = await be.download(model.forward(ids.subarray(t, t + 1), cache));
      expect(relativeMaxError(step, [want[t]])).toBeLessThan(TOLERANCE);
    }
    expect(cache.length).toBe(ids.length);
    expect(cache.k[1]?.shape).toEqual([10, 4, 8]);
    model.disposeCache(cache);
    expect(cache.length).toBe(0);
    model.dispose();
  });

  it('stops at n_positions instead of reading past the position table', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const model = await Gpt2Model.load(source, config, { backend: be });
    await source.close();
    const cache = model.newCache();
    be.dispose(model.forward(new Int32Array(60), cache));
    expect(() => model.forward(new Int32Array(5), cache)).toThrow(/positions 60…64 run past n_positions 64/);
    expect(() => model.forward(Int32Array.of(64), model.newCache())).toThrow(
      /token id 64 is outside the vocabulary \[0, 64\)/,
    );
    model.disposeCache(cache);
    model.dispose();
  });

  it('runs with c_fc replaced by a structured matrix [out, in], through its factored forward', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const name = 'transformer.h.1.mlp.c_fc';
    // the file holds the Conv1D weight [in, out] = [32, 128]; a replacement is the linear [out, in] = [128, 32]
    const W = transpose(await source.readTensor(`${name}.weight`));
    const exact = await lowRankFactorize(W, 32);
    const cut = await lowRankFactorize(W, 4);
    const a = await logitsOf(source, config, new Map([[name, exact]]));
    expect(relativeMaxError(a.out, want)).toBeLessThan(TOLERANCE);
    const b = await logitsOf(source, config, new Map([[name, cut]]));
    expect(relativeMaxError(b.out, want)).toBeGreaterThan(1e-3);
    expect(a.params - b.params).toBe((32 - 4) * (128 + 32));
    // the fused q/k/v projection is one module: a dense copy of it reproduces the model
    const qkv = transpose(await source.readTensor('transformer.h.0.attn.c_attn.weight'));
    const c = await logitsOf(
      source,
      config,
      new Map([['transformer.h.0.attn.c_attn', new DenseMatrix(qkv)]]),
    );
    expect(relativeMaxError(c.out, want)).toBeLessThan(TOLERANCE);
    // the Conv1D orientation is refused
    await expect(
      Gpt2Model.load(source, config, { replacements: new Map([[name, new DenseMatrix(transpose(W))]]) }),
    ).rejects.toThrow(
      /replacement for 'transformer.h.1.mlp.c_fc' has shape \[32,128\], expected \[128,32\] \(\[out, in\]\)/,
    );
    await expect(
      Gpt2Model.load(source, config, { replacements: new Map([['h.1.mlp.c_fc', exact]]) }),
    ).rejects.toThrow(/no linear 'h.1.mlp.c_fc' to replace \(expected 'transformer.h.\{0…1\}/);
    expect(GPT2_LINEAR_MODULES).toEqual(['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']);
    await source.close();
  });

  it('observe sees every block linear by module name, with its input', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const model = await Gpt2Model.load(source, config, { backend: be });
    await source.close();
    const seen: string[] = [];
    const out = model.forward(ids, model.newCache(), {
      observe: (module, input) => {
        seen.push(module);
        expect(input.shape).toEqual([10, model.linearShape(module)[1]]);
        be.dispose(input);
      },
    });
    be.dispose(out);
    expect(seen).toEqual([0, 1].flatMap((l) => GPT2_LINEAR_MODULES.map((m) => `transformer.h.${l}.${m}`)));
    expect(model.linearShape('transformer.h.0.attn.c_attn')).toEqual([96, 32]);
    expect(() => model.linearShape('transformer.h.2.mlp.c_fc')).toThrow(/no block linear/);
    model.dispose();
  });

  it('generate() runs it: greedy starts with the argmax of transformers’ logits; seeded sampling repeats', async () => {
    const { config, source } = await openHfGpt2(tinyGpt2);
    const model = await Gpt2Model.load(source, config, { backend: be });
    await source.close();
    expect(model.config.maxPositionEmbeddings).toBe(64);
    expect(model.config.eosTokenId).toBe(1);
    // generate() takes any DecoderLm: Gpt2Model is one
    const asGenerator = model;
    const prompt = golden.ids.slice(0, 3);
    const greedy = await generate(asGenerator, prompt, { maxTokens: 8, stopToken: -1 });
    expect(greedy).toHaveLength(8);
    const row = want[2];
    expect(greedy[0]).toBe(row.indexOf(Math.max(...row)));
    const opts = { maxTokens: 8, temperature: 1, topP: 0.9, seed: 4, stopToken: -1 };
    expect(await generate(asGenerator, prompt, opts)).toEqual(await generate(asGenerator, prompt, opts));
    // generation ends at the context: 60 prompt tokens leave room for 4 more positions
    expect(await generate(asGenerator, new Array(60).fill(3), { maxTokens: 20, stopToken: -1 })).toHaveLength(
      5,
    );
    model.dispose();
  });
});

describe('bad GPT-2 files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blastkit-gpt2-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a config with impossible or unsupported values says which key and why', () => {
    const json = JSON.parse(readFileSync(join(tinyGpt2, 'config.json'), 'utf8'));
    expect(() => gpt2ConfigFromHf({ ...json, n_head: 5 }, 'x/config.json')).toThrow(
      /x\/config.json: n_embd 32 is not a multiple of n_head 5/,
    );
    expect(() => gpt2ConfigFromHf({ ...json, n_layer: 0 })).toThrow(
      /'n_layer' must be a positive integer \(got 0\)/,
    );
    expect(() => gpt2ConfigFromHf({ ...json, activation_function: 'quick_gelu' })).toThrow(
      /activation_function "quick_gelu" is not supported \(gelu_new, /,
    );
    expect(() => gpt2ConfigFromHf({ ...json, scale_attn_weights: 'yes' })).toThrow(
      /'scale_attn_weights' must be true or false \(got "yes"\)/,
    );
    expect(() => gpt2ConfigFromHf({ ...json, layer_norm_epsilon: 0 })).toThrow(
      /'layer_norm_epsilon' must be a positive number/,
    );
    expect(() => gpt2ConfigFromHf({ ...json, model_type: 'llama' })).toThrow(
      /model_type is 'llama', expected 'gpt2'/,
    );
    expect(gpt2ConfigFromHf({ ...json, n_inner: 48, eos_token_id: [7, 8] })).toMatchObject({
      nInner: 48,
      eosTokenId: 7,
    });
  });

  it('a weight of the wrong shape, or a missing one, is named with the shape it should have', async () => {
    const json = JSON.parse(readFileSync(join(tinyGpt2, 'config.json'), 'utf8'));
    await copyFile(join(tinyGpt2, 'model.safetensors'), join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...json, n_inner: 48 }));
    const { config, source } = await openHfGpt2(dir);
    await expect(Gpt2Model.load(source, config, { file: 'tiny/model.safetensors' })).rejects.toThrow(
      /tiny\/model.safetensors: weight 'transformer.h.0.mlp.c_fc.weight' has shape \[32,128\], expected \[32,48\]/,
    );
    const holed = renamed(source, (n) => (n === 'transformer.h.1.ln_2.bias' ? 'something.else' : n));
    await expect(Gpt2Model.load(holed, { ...config, nInner: 128 })).rejects.toThrow(
      /missing weight 'transformer.h.1.ln_2.bias' \(shape \[32\]\)/,
    );
    await source.close();
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...json, model_type: 'gpt_neo' }));
    await expect(openHfGpt2(dir)).rejects.toThrow(/config.json: model_type is 'gpt_neo', expected 'gpt2'/);
    expect(ModelFormatError.name).toBe('ModelFormatError');
  });
});
