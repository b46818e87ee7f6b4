import type { Backend, BackendDescription } from '@blastkit/core';
import { architectureLabels, type DecoderLm, generate, ModelFormatError } from '@blastkit/models';
import { argmax, loadOnnxRuntime, OnnxCausalLm, readOnnxFolder } from '@blastkit/onnx';
import { backendLine, openCliBackend } from '../backends.js';
import { InterruptedError, UsageError } from '../errors.js';
import { disposeModel, type LoadedModel, loadModel } from '../io/architecture.js';
import { loadTokenizer, openModel } from '../io/model-input.js';

export interface GenerateCommandOptions {
  model: string;
  prompt: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /** A compute backend (`auto`, `native`, …), or `ort`: `model` is then an exported ONNX folder. */
  backend?: string;
  tokenizer?: string;
  /** Which backend answered, in one line (for `auto`, also why the ones before it did not). */
  onBackend?: (line: string) => void;
  /** Receives the text as it is produced. */
  onText?: (piece: string) => void;
  signal?: AbortSignal;
}

export interface GenerateCommandResult {
  model: string;
  /** The backend that answered (`--backend auto` names the one it picked). */
  backend: string;
  backendDescription: BackendDescription;
  prompt: string;
  text: string;
  tokens: number[];
  promptTokens: number;
  seconds: number;
  tokensPerSecond: number;
  seed: number;
  temperature: number;
  topP: number;
  /** Parameters of the decoder linears (dense or structured); null for an ONNX folder (--backend ort). */
  linearParameters: number | null;
}

/** `blastkit generate`: continue a prompt with a (compressed or dense) decoder language model (Llama, GPT-2). */
export async function runGenerate(options: GenerateCommandOptions): Promise<GenerateCommandResult> {
  if (options.backend === 'ort') return runGenerateOrt(options);
  const opened = await openModel(options.model, { tokenizer: options.tokenizer });
  let backend: Backend | undefined;
  try {
    const decoder = opened.entry.decoder;
    if (decoder === undefined)
      throw new UsageError(
        `generate continues text with a decoder language model (${architectureLabels('causal-lm')}); ${opened.description} is a ${opened.architecture} model (see eval)`,
      );
    if (opened.tokenizerPath === undefined)
      throw new UsageError(
        `model '${options.model}': no tokenizer.bin or tokenizer.json beside it; pass --tokenizer FILE`,
      );
    const tokenizer = await loadTokenizer(opened.tokenizerPath);
    const answered = await openCliBackend(options.backend ?? 'auto');
    backend = answered.backend;
    options.onBackend?.(backendLine(answered));
    const loaded = await loadModel(opened, backend).catch((err) => {
      throw err instanceof ModelFormatError ? new UsageError(err.message) : err;
    });
    // biome-ignore lint/suspicious/noExplicitAny: any decoder's cache type will do
    const model = loaded as LoadedModel & DecoderLm<any>;
    // Llama's tokenizers are used with BOS first; GPT-2 continues raw text (no BOS, as transformers does)
    const prompt = tokenizer.encode(options.prompt, { bos: decoder.promptBos });
    if (prompt.length === 0) throw new UsageError('--prompt: the prompt has no tokens');
    const promptText = tokenizer.decode(prompt);
    const temperature = options.temperature ?? 0;
    const topP = options.topP ?? 0.9;
    const seed = options.seed ?? 0;
    const start = performance.now();
    const tokens: number[] = [];
    let shown = '';
    await generate(model, prompt, {
      maxTokens: options.maxTokens ?? 128,
      temperature,
      topP,
      seed,
      signal: options.signal,
      onToken: (t) => {
        tokens.push(t);
        // decode the whole continuation each time: a piece can be part of a multi-byte character
        const continuation = tokenizer.decode([...prompt, ...tokens]).slice(promptText.length);
        if (continuation.length > shown.length && !continuation.endsWith('\uFFFD')) {
          options.onText?.(continuation.slice(shown.length));
          shown = continuation;
        }
      },
    });
    const seconds = (performance.now() - start) / 1000;
    const full = tokenizer.decode([...prompt, ...tokens]);
    const result: GenerateCommandResult = {
      model: opened.description,
      backend: answered.description.name,
      backendDescription: answered.description,
      prompt: options.prompt,
      text: full.slice(promptText.length),
      tokens,
      promptTokens: prompt.length,
      seconds,
      tokensPerSecond: tokens.length / seconds,
      seed,
      temperature,
      topP,
      linearParameters: model.linearParameterCount(),
    };
    disposeModel(loaded);
    return result;
  } catch (err) {
    // Ctrl-C stops generation between tokens: exit 130, not a failure
    if (options.signal?.aborted) throw new InterruptedError('generate: interrupted');
    throw err;
  } finally {
    await opened.source.close();
    await backend?.close?.();
  }
}

/**
 * `generate --backend ort`: the exported ONNX folder itself (`blastkit export --onnx`) run by onnxruntime-node on
 * the CPU, so what is measured is the deployed artefact. Greedy only: sampling is blastkit's own (`generate`),
 * which runs on its backends.
 */
async function runGenerateOrt(options: GenerateCommandOptions): Promise<GenerateCommandResult> {
  const temperature = options.temperature ?? 0;
  if (temperature !== 0)
    throw new UsageError('--backend ort generates greedily: pass --temperature 0 (the default)');
  const info = await readOnnxFolder(options.model).catch((err) => {
    throw new UsageError(
      `--backend ort runs a folder written by blastkit export --onnx: ${(err as Error).message}`,
    );
  });
  const decoder = info.decoder;
  if (decoder === undefined)
    throw new UsageError(
      `generate continues text with a decoder language model (${architectureLabels('causal-lm')}); ${options.model} is a ${info.entry.name} model`,
    );
  const tokenizerPath = options.tokenizer ?? info.tokenizerPath;
  if (tokenizerPath === undefined)
    throw new UsageError(`model '${options.model}': no tokenizer.json in the folder; pass --tokenizer FILE`);
  const tokenizer = await loadTokenizer(tokenizerPath);
  const prompt = tokenizer.encode(options.prompt, { bos: decoder.promptBos });
  if (prompt.length === 0) throw new UsageError('--prompt: the prompt has no tokens');
  if (prompt.length > decoder.context)
    throw new UsageError(
      `the prompt has ${prompt.length} tokens but the model's context is ${decoder.context}; shorten it`,
    );
  const ort = await loadOnnxRuntime();
  const backendDescription = {
    name: 'ort',
    device: 'cpu' as const,
    engine: `onnxruntime-node ${ort.env.versions.node} (CPU execution provider), onnx/${info.file}`,
    software: false,
  };
  options.onBackend?.(`backend ort: ${backendDescription.engine}`);
  const lm = await OnnxCausalLm.fromFolder(options.model, { file: info.file });
  try {
    const promptText = tokenizer.decode(prompt);
    const maxTokens = options.maxTokens ?? 128;
    const stop = new Set(decoder.stopTokens);
    const start = performance.now();
    const tokens: number[] = [];
    let shown = '';
    let cache = lm.emptyCache();
    let input = prompt;
    while (tokens.length < maxTokens && cache.length + input.length <= decoder.context) {
      if (options.signal?.aborted) throw new InterruptedError('generate: interrupted');
      const r = await lm.forward(input, cache);
      cache = r.cache;
      const next = argmax(r.logits.subarray(r.logits.length - r.vocab));
      tokens.push(next);
      const continuation = tokenizer.decode([...prompt, ...tokens]).slice(promptText.length);
      if (continuation.length > shown.length && !continuation.endsWith('\uFFFD')) {
        options.onText?.(continuation.slice(shown.length));
        shown = continuation;
      }
      if (stop.has(next)) break;
      input = [next];
    }
    const seconds = (performance.now() - start) / 1000;
    return {
      model: options.model,
      backend: 'ort',
      backendDescription,
      prompt: options.prompt,
      text: tokenizer.decode([...prompt, ...tokens]).slice(promptText.length),
      tokens,
      promptTokens: prompt.length,
      seconds,
      tokensPerSecond: tokens.length / seconds,
      seed: options.seed ?? 0,
      temperature,
      topP: options.topP ?? 0.9,
      linearParameters: null,
    };
  } finally {
    await lm.release();
  }
}
