import { generate, LlamaModel } from '@blastkit/models';
import { resolveBackend } from '../backends.js';
import { UsageError } from '../errors.js';
import { loadTokenizer, openModelArgument } from '../io/model-input.js';

export interface GenerateCommandOptions {
  model: string;
  prompt: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  backend?: string;
  tokenizer?: string;
  /** Receives the text as it is produced. */
  onText?: (piece: string) => void;
  signal?: AbortSignal;
}

export interface GenerateCommandResult {
  model: string;
  backend: string;
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

/** `blastkit generate`: continue a prompt with a (compressed or dense) Llama model. */
export async function runGenerate(options: GenerateCommandOptions): Promise<GenerateCommandResult> {
  const opened = await openModelArgument(options.model, { tokenizer: options.tokenizer });
  try {
    if (opened.tokenizerPath === undefined)
      throw new UsageError(`model '${options.model}': no tokenizer.bin beside it; pass --tokenizer FILE`);
    const tokenizer = await loadTokenizer(opened.tokenizerPath);
    const backendName = options.backend ?? 'cpu';
    const backend = await resolveBackend(backendName);
    const model = await LlamaModel.load(opened.source, opened.config, {
      backend,
      replacements: opened.replacements,
      biases: opened.biases,
      file: opened.description,
    });
    const prompt = tokenizer.encode(options.prompt, { bos: true });
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
      backend: backendName,
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
    model.dispose();
    await backend.close?.();
    return result;
  } finally {
    await opened.source.close();
  }
}
