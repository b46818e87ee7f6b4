import { readFile } from 'node:fs/promises';
import { fetchAsset } from '@blastkit/assets';
import { type ComparisonResult, compareModels, perplexity, type WindowProtocol } from '@blastkit/eval';
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

export interface QualityCpuOptions {
  /** One layer, few tokens, few steps: keeps the suite runnable in tests. */
  quick?: boolean;
}

/**
 * Compression quality on stories15M, no re-training: every structure at 20% and 50% parameter reduction of the
 * decoder projections, against the dense model on the same windows — perplexity, KL and top-1 agreement on
 * in-domain text (sampled from the dense model, seed 0) and on Moby Dick — plus parameters, FLOPs per token and
 * the time to compress. One run, side by side.
 */
export async function runQualityCpu(options: QualityCpuOptions = {}) {
  const files = await fetchAsset('stories15M');
  const ck = await Llama2cCheckpoint.open(files['stories15M.bin']);
  const tokenizer = await Llama2cTokenizer.load(files['tokenizer.bin']);
  const dense = await LlamaModel.load(ck, ck.config);
  const layers = options.quick ? 1 : ck.config.numLayers;
  const modules: string[] = [];
  for (let l = 0; l < layers; l++)
    for (const s of LLAMA_LINEAR_SUFFIXES) modules.push(`model.layers.${l}.${s}`);
  const evalTokens = options.quick ? 32 : 1024;
  const steps = options.quick ? 3 : 40;

  const inDomain = await generate(dense, [1], {
    maxTokens: Math.min(evalTokens, 255),
    temperature: 1,
    topP: 0.9,
    seed: 0,
    stopToken: -1,
  });
  const book = await readFile((await fetchAsset('moby-dick'))['moby-dick.txt'], 'utf8');
  const moby = tokenizer
    .encode(book.slice(book.indexOf('Call me Ishmael'), book.indexOf('Call me Ishmael') + 8 * evalTokens), {
      bos: false,
    })
    .slice(0, evalTokens);
  const protocol: WindowProtocol = { window: 256, stride: 128, prefixToken: 1 };
  const calibration: number[][] = [];
  for (let i = 0; i < (options.quick ? 1 : 4); i++)
    calibration.push([
      1,
      ...(await generate(dense, [1], {
        maxTokens: 127,
        temperature: 1,
        topP: 0.9,
        seed: 1000 + i,
        stopToken: -1,
      })),
    ]);
  const inputs = await collectLinearInputs(dense, calibration, modules);

  const summarize = (c: ComparisonResult) => ({
    perplexity: round(c.candidate.perplexity),
    klDivergence: round(c.klDivergence),
    top1Agreement: round(c.top1Agreement),
  });
  const denseRow = {
    method: 'dense',
    reduction: 0,
    parameters: dense.linearParameterCount(),
    inDomain: {
      perplexity: round((await perplexity(dense, inDomain, protocol)).perplexity),
    },
    mobyDick: { perplexity: round((await perplexity(dense, moby, protocol)).perplexity) },
  };
  const methods: CompressMethod[] = ['blast', 'blast-data', 'lowrank', 'rom', 'monarch', 'block-diag'];
  const rows = [];
  for (const reduction of [0.2, 0.5]) {
    for (const method of methods) {
      const start = performance.now();
      const {
        replacements,
        biases,
        modules: report,
      } = await compressLinears(ck, modules, {
        method,
        ratio: 1 - reduction,
        blocks: 16,
        steps,
        calibration: inputs,
      });
      const seconds = (performance.now() - start) / 1000;
      const model = await LlamaModel.load(ck, ck.config, { replacements, biases });
      rows.push({
        method,
        reduction,
        parameters: model.linearParameterCount(),
        parameterRatio: round(model.linearParameterCount() / denseRow.parameters),
        flopsPerToken: [...replacements.values()].reduce((a, m) => a + m.flops(1), 0),
        meanWeightError: round(report.reduce((a, m) => a + m.relativeError, 0) / report.length),
        secondsToCompress: round(seconds),
        inDomain: summarize(await compareModels(dense, model, inDomain, protocol)),
        mobyDick: summarize(await compareModels(dense, model, moby, protocol)),
      });
      model.dispose();
    }
  }
  await ck.close();
  return {
    suite: 'quality-cpu',
    model: 'stories15M',
    retraining: 'none',
    modules: modules.length,
    solverSteps: steps,
    blocks: 16,
    protocol,
    texts: {
      inDomain: `${inDomain.length} tokens sampled from the dense model (seed 0, temperature 1, top-p 0.9)`,
      mobyDick: `${moby.length} tokens from "Call me Ishmael"`,
      calibration: `blast-data, rom: ${calibration.length} × 128 tokens sampled from the dense model (seeds 1000…)`,
    },
    dense: denseRow,
    results: rows,
  };
}
