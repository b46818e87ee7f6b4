import type { Backend, BackendDescription } from '@blastkit/core';
import { architectureLabels, type DecoderLm, generate, ModelFormatError } from '@blastkit/models';
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
  /** Parameters of the decoder linears (dense or structured). */
  linearParameters: number;
}

/** `blastkit generate`: continue a prompt with a (compressed or dense) decoder language model (Llama, GPT-2). */
export async function runGenerate(options: GenerateCommandOptions): Promise<GenerateCommandResult> {
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
