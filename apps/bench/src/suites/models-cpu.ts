import { fetchAsset } from '@blastkit/assets';
import { openBackend, type StructuredMatrix } from '@blastkit/core';
import {
  type CompressMethod,
  compressLinears,
  generate,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  LlamaModel,
} from '@blastkit/models';
import { round } from '../timing.js';

export interface ModelsCpuOptions {
  /** Fewer tokens and solver steps, for the test that keeps this suite runnable. */
  quick?: boolean;
}

// the backend packages are optional dependencies of the bench, resolved from here
const importFromBench = async (pkg: string) => (await import(pkg)) as Record<string, unknown>;

/**
 * stories15M on the CPU (`auto`: the native backend where it loads, else the TypeScript reference), dense vs BLAST vs low-rank at 50% of the decoder-linear parameters, one run:
 * prefill time for a 128-token prompt and greedy decode tokens/s (one token per step through the KV cache).
 * Speed does not depend on how well the factors fit, so the solver runs only a few steps here; the quality
 * figures come from `blastkit compress --compare`.
 */
export async function runModelsCpu(options: ModelsCpuOptions = {}) {
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const { backend, description } = await openBackend('auto', importFromBench);
  const modules: string[] = [];
  for (let l = 0; l < ck.config.numLayers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${s}`);
  const decodeTokens = options.quick ? 8 : 96;
  const prefillLength = options.quick ? 16 : 128;
  const prompt = Array.from({ length: prefillLength }, (_, i) => (i === 0 ? 1 : 300 + ((i * 7919) % 20000)));
  const variants: { name: string; method?: CompressMethod; ratio?: number }[] = [
    { name: 'dense' },
    { name: 'blast-50', method: 'blast', ratio: 0.5 },
    { name: 'lowrank-50', method: 'lowrank', ratio: 0.5 },
  ];
  const results = [];
  for (const v of variants) {
    let replacements = new Map<string, StructuredMatrix>();
    if (v.method)
      replacements = (
        await compressLinears(ck, modules, {
          method: v.method,
          ratio: v.ratio as number,
          blocks: 16,
          steps: options.quick ? 1 : 3,
        })
      ).replacements;
    const model = await LlamaModel.load(ck, ck.config, { backend, replacements });
    // prefill: the whole prompt in one forward pass (median of 3)
    const prefill: number[] = [];
    for (let i = 0; i < 3; i++) {
      const cache = model.newCache();
      const t0 = performance.now();
      const out = model.forward(Int32Array.from(prompt), cache, { lastOnly: true });
      await backend.download(out);
      prefill.push((performance.now() - t0) / 1000);
      backend.dispose(out);
      model.disposeCache(cache);
    }
    prefill.sort((a, b) => a - b);
    const t0 = performance.now();
    const tokens = await generate(model, [1], { maxTokens: decodeTokens, stopToken: -1 });
    const decodeSeconds = (performance.now() - t0) / 1000;
    results.push({
      model: v.name,
      linearParameters: model.linearParameterCount(),
      prefillSeconds: round(prefill[1]),
      prefillTokens: prefillLength,
      decodeTokensPerSecond: round(tokens.length / decodeSeconds),
    });
    model.dispose();
  }
  await ck.close();
  await backend.close?.();
  const dense = results[0];
  return {
    suite: 'models-cpu',
    backend: backend.name,
    engine: description.engine,
    node: process.version,
    model: 'stories15M',
    results: results.map((r) => ({
      ...r,
      prefillVsDense: round(r.prefillSeconds / dense.prefillSeconds),
      decodeSpeedupVsDense: round(r.decodeTokensPerSecond / dense.decodeTokensPerSecond),
    })),
  };
}
