#!/usr/bin/env node
/**
 * Writes a random Hugging Face Llama folder of a chosen size, one tensor in memory at a time, to measure the
 * peak memory of loading and compressing at scale:
 *   node apps/bench/dist/scale/gen-large-llama.js OUT_DIR [hidden=2048] [intermediate=5632] [layers=8] [vocab=32000]
 * The defaults give ~542M parameters (2.0 GiB float32).
 */
import { type LlamaConfig, llamaWeightShapes, saveCompressedLlama } from '@blastkit/models';
import { randomLlamaSource } from './random-llama.js';

const [out, hidden = '2048', intermediate = '5632', layers = '8', vocab = '32000'] = process.argv.slice(2);
if (!out) {
  process.stderr.write('usage: gen-large-llama.js OUT_DIR [hidden] [intermediate] [layers] [vocab]\n');
  process.exit(2);
}
const h = Number(hidden);
const config: LlamaConfig = {
  modelType: 'llama',
  hiddenSize: h,
  intermediateSize: Number(intermediate),
  numLayers: Number(layers),
  numHeads: h / 128,
  numKvHeads: h / 128,
  headDim: 128,
  vocabSize: Number(vocab),
  maxPositionEmbeddings: 2048,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
};
const shapes = llamaWeightShapes(config);
const random = randomLlamaSource(config);
await saveCompressedLlama(out, config, random, new Map(), null);
const count = [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
process.stdout.write(`${out}: ${count} parameters (${((count * 4) / 2 ** 30).toFixed(2)} GiB float32)\n`);
