import { fetchAsset } from '@blastkit/assets';
import { type Backend, CpuBackend, type Tensor } from '@blastkit/core';
import { closeness } from '@blastkit/core/test';
import {
  compressLinears,
  generate,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  LlamaModel,
} from '@blastkit/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../src/index.js';
import { TEST_ADAPTER } from './adapter.js';

// The real model end to end on this backend: stories15M with every projection replaced by BLAST (b = 4, half
// the parameters) gives the same greedy tokens on WebGPU as on the CPU reference backend, and logits within
// float32 rounding at every step: prefill through the tiled GEMMs and the mixing kernel, each decode step
// through the fused one-dispatch BLAST kernel, the matrix-vector kernels (dense layers, the 32000-way output
// head), RoPE and attention over the KV cache.
// The solver runs 2 steps (seconds, not minutes): the factors fit badly and the text is poor, which does not
// matter for comparing two backends on the same factors.
describe('stories15M compressed with BLAST on WebGPU (software adapter)', () => {
  let gpu: WebGpuBackend;
  let files: Record<string, string>;
  beforeAll(async () => {
    files = await fetchAsset('stories15M');
    gpu = await WebGpuBackend.create({ adapter: TEST_ADAPTER });
  }, 180_000);
  afterAll(async () => {
    await gpu?.close();
  });

  it('dense: greedy continuation of "Once upon a time" is the known text (assets.md)', async () => {
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin']);
    const model = await LlamaModel.load(ck, ck.config, { backend: gpu });
    await ck.close();
    const prompt = tokenizer.encode('Once upon a time', { bos: true });
    const tokens = await generate(model, prompt, { maxTokens: 24 });
    model.dispose();
    expect(tokenizer.decode([...prompt, ...tokens])).toContain(
      'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.',
    );
  }, 120_000);

  it('greedy tokens from "Once upon a time" and every step\'s logits match the CPU backend', async () => {
    const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
    const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin']);
    const modules = Array.from({ length: ck.config.numLayers }, (_, l) =>
      LLAMA_LINEAR_SUFFIXES.map((s) => `model.layers.${l}.${s}`),
    ).flat();
    const { replacements } = await compressLinears(ck, modules, {
      method: 'blast',
      ratio: 0.5,
      blocks: 4,
      steps: 2,
      seed: 1,
    });
    const prompt = tokenizer.encode('Once upon a time', { bos: true });
    // greedy decoding by hand, keeping each step's logits
    const run = async (backend: Backend) => {
      const model = await LlamaModel.load(ck, ck.config, { backend, replacements });
      const cache = model.newCache();
      const tokens: number[] = [];
      const logits: Tensor[] = [];
      let ids = Int32Array.from(prompt);
      for (let step = 0; step < 16; step++) {
        const out = model.forward(ids, cache, { lastOnly: true });
        const host = await backend.download(out);
        backend.dispose(out);
        logits.push(host);
        let best = 0;
        for (let v = 1; v < host.size; v++) if (host.data[v] > host.data[best]) best = v;
        tokens.push(best);
        ids = Int32Array.of(best);
      }
      model.disposeCache(cache);
      model.dispose();
      return { tokens, logits };
    };
    const onCpu = await run(new CpuBackend());
    const onGpu = await run(gpu);
    await ck.close();
    console.info(
      `BLAST stories15M on ${gpu.describe().engine}: ${JSON.stringify(tokenizer.decode([...prompt, ...onGpu.tokens]))}`,
    );
    expect(onGpu.tokens).toEqual(onCpu.tokens);
    onCpu.logits.forEach((want, step) => {
      expect(closeness(onGpu.logits[step], want, { relative: 1e-4, absolute: 0 }), `step ${step}`).toBeNull();
    });
  }, 300_000);
});
