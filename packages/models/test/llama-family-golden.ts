import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '@blastkit/core';
import { type LlamaConfig, type LlamaLoadOptions, LlamaModel, type TensorSource } from '../src/index.js';

// What the Qwen2, Mistral and Phi-3 tests share: transformers' golden logits
// (tools/fixtures/gen_llama_family_fixtures.py) and a forward of the fixture ids on the CPU reference.

export const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
/** The ids every fixture ran on, and one logits table per fixture (and variant) by name. */
export const golden = JSON.parse(readFileSync(join(fixtures, 'llama-family-golden.json'), 'utf8')) as Record<
  string,
  number[][]
> & { ids: number[] };
export const ids = Int32Array.from(golden.ids);
export const be = new CpuBackend();

/** The logits of `ids` in one full pass, and the model's linear parameter count. */
export async function logitsOf(
  source: TensorSource,
  config: LlamaConfig,
  options: Omit<LlamaLoadOptions, 'backend'> = {},
) {
  const model = await LlamaModel.load(source, config, { backend: be, ...options });
  const out = await be.download(model.forward(ids, model.newCache()));
  const params = model.linearParameterCount();
  model.dispose();
  return { out, params };
}
