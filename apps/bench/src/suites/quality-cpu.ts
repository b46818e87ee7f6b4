import { readFile } from 'node:fs/promises';
import { fetchAsset } from '@blastkit/assets';
import { openBackend } from '@blastkit/core';
import {
  bootstrapComparison,
  type ComparisonResult,
  compareModels,
  compareModelsOnSequences,
  perplexity,
  type WindowProtocol,
} from '@blastkit/eval';
import {
  type CompressMethod,
  collectLinearInputs,
  compressLinears,
  generate,
  LLAMA_LINEAR_SUFFIXES,
  Llama2cCheckpoint,
  Llama2cTokenizer,
  LlamaModel,
} from '@blastkit/models';
import { round } from '../timing.js';

// the backend packages are optional dependencies of the bench, resolved from here
const importFromBench = async (pkg: string) => (await import(pkg)) as Record<string, unknown>;

export interface QualityCpuOptions {
  /** One layer, few tokens, few steps: keeps the suite runnable in tests. */
  quick?: boolean;
}

/** The rows: every method, and blast-data with both covariances. */
const ROWS: { label: string; method: CompressMethod; covariance?: 'full' | 'block-diagonal' }[] = [
  { label: 'blast', method: 'blast' },
  { label: 'blast-data', method: 'blast-data', covariance: 'full' },
  { label: 'blast-data (block-diagonal covariance)', method: 'blast-data', covariance: 'block-diagonal' },
  { label: 'lowrank', method: 'lowrank' },
  { label: 'svd-llm', method: 'svd-llm' },
  { label: 'rom', method: 'rom' },
  { label: 'monarch', method: 'monarch' },
  { label: 'block-diag', method: 'block-diag' },
];

/**
 * Compression quality on stories15M, no re-training: every structure at 20% and 50% parameter reduction of the
 * decoder projections, against the dense model — perplexity, KL and top-1 agreement on a held-out in-domain set
 * (64 sequences of 255 tokens sampled from the dense model, seeds 0…63, each scored as one window from BOS;
 * calibration samples use seeds 1000…, so the two never share a sequence) and on Moby Dick (out of domain,
 * sliding windows), each with a 95% percentile-bootstrap interval over sequences / windows — plus parameters,
 * FLOPs per token and the time to compress. One run, side by side.
 */
export async function runQualityCpu(options: QualityCpuOptions = {}) {
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin']);
  // the whole protocol on `auto`: the native backend where it loads (minutes instead of hours), else the reference
  const { backend, description } = await openBackend('auto', importFromBench);
  const dense = await LlamaModel.load(ck, ck.config, { backend });
  const layers = options.quick ? 1 : ck.config.numLayers;
  const modules: string[] = [];
  for (let l = 0; l < layers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${s}`);
  const sequenceTokens = options.quick ? 32 : 255;
  const sequenceCount = options.quick ? 2 : 64;
  const mobyTokens = options.quick ? 64 : 4096;
  const calibrationCount = options.quick ? 1 : 32;
  const steps = options.quick ? 3 : 40;

  const sample = (seed: number, maxTokens: number) =>
    generate(dense, [1], { maxTokens, temperature: 1, topP: 0.9, seed, stopToken: -1 });
  const inDomain: number[][] = [];
  for (let i = 0; i < sequenceCount; i++) inDomain.push(await sample(i, sequenceTokens));
  const book = await readFile((await fetchAsset('moby-dick'))['moby-dick.txt'], 'utf8');
  const at = book.indexOf('Call me Ishmael');
  const moby = tokenizer.encode(book.slice(at, at + 8 * mobyTokens), { bos: false }).slice(0, mobyTokens);
  // each in-domain sequence is one window from BOS; Moby Dick slides with half-window stride
  const sequenceProtocol: WindowProtocol = {
    window: sequenceTokens + 1,
    stride: sequenceTokens,
    prefixToken: 1,
  };
  const protocol: WindowProtocol = { window: 256, stride: 128, prefixToken: 1 };
  const calibration: number[][] = [];
  for (let i = 0; i < calibrationCount; i++) calibration.push([1, ...(await sample(1000 + i, 127))]);
  const inputs = await collectLinearInputs(dense, calibration, modules);

  const summarize = (c: ComparisonResult) => {
    const ci = bootstrapComparison(c.windows, { resamples: 1000, seed: 0 });
    return {
      perplexity: round(c.candidate.perplexity),
      perplexityCi: ci.perplexity.map(round),
      klDivergence: round(c.klDivergence),
      klDivergenceCi: ci.klDivergence.map(round),
      top1Agreement: round(c.top1Agreement),
      top1AgreementCi: ci.top1Agreement.map(round),
      tokens: c.tokens,
    };
  };
  const denseInDomain = await compareModelsOnSequences(dense, dense, inDomain, sequenceProtocol);
  const denseRow = {
    method: 'dense',
    reduction: 0,
    parameters: dense.linearParameterCount(),
    inDomain: { perplexity: round(denseInDomain.reference.perplexity), tokens: denseInDomain.tokens },
    mobyDick: { perplexity: round((await perplexity(dense, moby, protocol)).perplexity) },
  };
  const rows = [];
  for (const reduction of [0.2, 0.5]) {
    for (const row of ROWS) {
      const start = performance.now();
      const {
        replacements,
        biases,
        modules: report,
      } = await compressLinears(ck, modules, {
        method: row.method,
        ...(row.covariance ? { covariance: row.covariance } : {}),
        ratio: 1 - reduction,
        blocks: 16,
        steps,
        calibration: inputs,
        backend,
      });
      const seconds = (performance.now() - start) / 1000;
      const model = await LlamaModel.load(ck, ck.config, { backend, replacements, biases });
      rows.push({
        method: row.label,
        reduction,
        parameters: model.linearParameterCount(),
        parameterRatio: round(model.linearParameterCount() / denseRow.parameters),
        flopsPerToken: [...replacements.values()].reduce((a, m) => a + m.flops(1), 0),
        meanWeightError: round(report.reduce((a, m) => a + m.relativeError, 0) / report.length),
        secondsToCompress: round(seconds),
        inDomain: summarize(await compareModelsOnSequences(dense, model, inDomain, sequenceProtocol)),
        mobyDick: summarize(await compareModels(dense, model, moby, protocol)),
      });
      model.dispose();
    }
  }
  await ck.close();
  dense.dispose();
  await backend.close?.();
  return {
    suite: 'quality-cpu',
    backend: description.name,
    engine: description.engine,
    model: 'stories15M',
    retraining: 'none',
    modules: modules.length,
    solverSteps: steps,
    blocks: 16,
    protocol: { inDomain: sequenceProtocol, mobyDick: protocol },
    intervals:
      '95% percentile bootstrap, 1000 resamples over in-domain sequences / Moby Dick windows, seed 0',
    texts: {
      inDomain: `${inDomain.length} sequences × ${sequenceTokens} tokens sampled from the dense model (seeds 0…${sequenceCount - 1}, temperature 1, top-p 0.9), each one window from BOS: ${denseRow.inDomain.tokens} scored tokens`,
      mobyDick: `${moby.length} tokens from "Call me Ishmael"`,
      calibration: `blast-data, svd-llm, rom: ${calibration.length} × 128 tokens sampled from the dense model (seeds 1000…${1000 + calibrationCount - 1}), disjoint from the in-domain set`,
    },
    dense: denseRow,
    results: rows,
  };
}
