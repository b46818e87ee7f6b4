import { readFile } from 'node:fs/promises';
import { fetchAsset } from '@blastkit/assets';
import type { Backend } from '@blastkit/core';
import {
  type ComparisonResult,
  compareModels,
  type PerplexityResult,
  perplexity,
  type WindowProtocol,
} from '@blastkit/eval';
import { generate, LlamaModel, type TextTokenizer } from '@blastkit/models';
import { resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { loadTokenizer, type ModelArgument, openModelArgument } from '../io/model-input.js';

/** Where evaluation text comes from: a file, the Moby Dick asset, or text sampled from the reference model. */
export type TextSpec = string;

export interface EvalCommandOptions {
  model: string;
  /** A .txt path, 'moby-dick', or 'in-domain' (sampled from the reference, or the model, seeded). Default moby-dick. */
  text?: TextSpec;
  reference?: string;
  /** Tokens of text to score at most (default 2048). */
  maxTokens?: number;
  window?: number;
  stride?: number;
  seed?: number;
  backend?: string;
}

export interface EvalCommandResult {
  model: string;
  reference?: string;
  backend: string;
  text: { source: string; tokens: number };
  protocol: WindowProtocol;
  perplexity?: PerplexityResult;
  comparison?: ComparisonResult;
}

async function loadModel(opened: ModelArgument, backend: Backend) {
  return LlamaModel.load(opened.source, opened.config, {
    backend,
    replacements: opened.replacements,
    biases: opened.biases,
    file: opened.description,
  });
}

/**
 * Tokens of the evaluation text (no BOS: the protocol prefixes every window with it). 'in-domain' is sampled from
 * `sampler` with a fixed seed, temperature 1, top-p 0.9 — stories15M has no public evaluation text here.
 */
export async function evaluationTokens(
  spec: TextSpec,
  tokenizer: TextTokenizer,
  maxTokens: number,
  sampler: LlamaModel,
  seed: number,
): Promise<{ source: string; ids: number[] }> {
  if (spec === 'in-domain') {
    const prompt = [1];
    const n = Math.min(maxTokens, sampler.config.maxPositionEmbeddings - 1);
    const ids = await generate(sampler, prompt, {
      maxTokens: n,
      temperature: 1,
      topP: 0.9,
      seed,
      stopToken: -1,
    });
    return {
      source: `in-domain: ${ids.length} tokens sampled from the dense model (seed ${seed}, T 1, top-p 0.9)`,
      ids,
    };
  }
  let text: string;
  let source: string;
  if (spec === 'moby-dick') {
    const book = await readFile((await fetchAsset('moby-dick'))['moby-dick.txt'], 'utf8');
    // skip the front matter (contents, etymology, extracts): the story starts at chapter 1's first line
    const start = book.indexOf('Call me Ishmael');
    text = book.slice(Math.max(start, 0));
    source = 'moby-dick (asset, from "Call me Ishmael")';
  } else {
    text = await readFile(spec, 'utf8').catch(() => {
      throw new UsageError(`--text ${spec}: cannot read it (a .txt file, 'moby-dick' or 'in-domain')`);
    });
    source = spec;
  }
  // tokenizing a whole book to keep 2k tokens is wasteful: ~4 characters per token is plenty of margin
  const ids = tokenizer.encode(text.slice(0, maxTokens * 8), { bos: false }).slice(0, maxTokens);
  if (ids.length < 2) throw new UsageError(`--text ${spec}: fewer than 2 tokens`);
  return { source: `${source}: first ${ids.length} tokens`, ids };
}

/** `blastkit eval`: perplexity of a model, or a comparison with a reference (dense) model. */
export async function runEval(options: EvalCommandOptions): Promise<EvalCommandResult> {
  const opened = await openModelArgument(options.model);
  const reference = options.reference ? await openModelArgument(options.reference) : undefined;
  const backendName = options.backend ?? 'cpu';
  const backend = await resolveBackend(backendName);
  try {
    const tokenizerPath = opened.tokenizerPath ?? reference?.tokenizerPath;
    if (!tokenizerPath) throw new UsageError(`no tokenizer.bin beside ${options.model}`);
    const tokenizer = await loadTokenizer(tokenizerPath);
    const model = await loadModel(opened, backend);
    const refModel = reference ? await loadModel(reference, backend) : undefined;
    const window = options.window ?? Math.min(256, opened.config.maxPositionEmbeddings);
    const protocol: WindowProtocol = {
      window,
      stride: options.stride ?? Math.floor(window / 2),
      prefixToken: 1,
    };
    const text = await evaluationTokens(
      options.text ?? 'moby-dick',
      tokenizer,
      options.maxTokens ?? 2048,
      refModel ?? model,
      options.seed ?? 0,
    );
    const result: EvalCommandResult = {
      model: opened.description,
      ...(reference ? { reference: reference.description } : {}),
      backend: backendName,
      text: { source: text.source, tokens: text.ids.length },
      protocol,
    };
    if (refModel) result.comparison = await compareModels(refModel, model, text.ids, protocol);
    else result.perplexity = await perplexity(model, text.ids, protocol);
    model.dispose();
    refModel?.dispose();
    return result;
  } finally {
    await opened.source.close();
    await reference?.source.close();
    await backend.close?.();
  }
}

export function formatEval(r: EvalCommandResult): string {
  const lines = [
    `${r.model} on ${r.text.source} (window ${r.protocol.window}, stride ${r.protocol.stride}, BOS prefix)`,
  ];
  if (r.perplexity)
    lines.push(`perplexity ${r.perplexity.perplexity.toFixed(3)} over ${r.perplexity.tokens} tokens`);
  const c = r.comparison;
  if (c)
    lines.push(
      `against ${r.reference}:`,
      `  perplexity     reference ${c.reference.perplexity.toFixed(3)}   model ${c.candidate.perplexity.toFixed(3)}`,
      `  KL(ref‖model)  ${c.klDivergence.toFixed(4)} nats/token   top-1 agreement ${(100 * c.top1Agreement).toFixed(1)}%   (${c.tokens} tokens)`,
    );
  return lines.join('\n');
}
