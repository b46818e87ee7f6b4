import { existsSync } from 'node:fs';
import { fetchAsset, isAssetName } from '@blastkit/assets';
import {
  ARCHITECTURES,
  HfTokenizer,
  isLlama,
  Llama2cTokenizer,
  type LlamaConfig,
  ModelFormatError,
  ModelInputError,
  type OpenedModel,
  openModel as openRegisteredModel,
  type TextTokenizer,
} from '@blastkit/models';
import { SafetensorsError } from '@blastkit/safetensors';
import { UsageError } from '../errors.js';

export type { OpenedModel };

/** The architectures the model commands run: every entry of @blastkit/models' registry. */
export const ARCHITECTURE_NAMES: readonly string[] = ARCHITECTURES.map((a) => a.name);
/** An architecture's registry name ('llama', 'gpt2', …). */
export type Architecture = string;

/** An opened Llama: what the Llama-only code paths (retrain) take. */
export type ModelArgument = OpenedModel<LlamaConfig>;

/**
 * Opens `<model>`: an asset name (`stories15M`, fetched on first use), or anything @blastkit/models' `openModel`
 * reads (a model folder of any registered architecture, a `.safetensors` file with its config.json beside it,
 * a llama2.c `.bin`). A tokenizer beside the weights is picked up.
 */
export async function openModel(spec: string, options: { tokenizer?: string } = {}): Promise<OpenedModel> {
  if (isAssetName(spec)) {
    if (spec !== 'stories15M') throw new UsageError(`'${spec}' is a data asset, not a model`);
    const files = await fetchAsset(spec, { onProgress: (m) => process.stderr.write(`${m}\n`) });
    return opening(files['stories15M.bin'], {
      tokenizer: options.tokenizer ?? files['tokenizer.bin'],
      name: 'stories15M',
    });
  }
  if (!existsSync(spec))
    throw new UsageError(`model '${spec}': no such file or folder, and not an asset name (try 'stories15M')`);
  return opening(spec, { ...options, otherForms: ['an asset name'] });
}

async function opening(
  path: string,
  options: { tokenizer?: string; name?: string; otherForms?: string[] },
): Promise<OpenedModel> {
  try {
    return await openRegisteredModel(path, options);
  } catch (err) {
    if (err instanceof ModelFormatError || err instanceof SafetensorsError || err instanceof ModelInputError)
      throw new UsageError(err.message);
    throw err;
  }
}

/** `openModel` for the Llama-only paths: any other architecture is a usage error naming it. */
export async function openModelArgument(
  spec: string,
  options: { tokenizer?: string } = {},
): Promise<ModelArgument> {
  const opened = await openModel(spec, options);
  if (!isLlama(opened)) {
    await opened.source.close();
    throw new UsageError(`${opened.description} is a ${opened.architecture} model; this needs a Llama`);
  }
  return opened;
}

/** A tokenizer file: Hugging Face's tokenizer.json, or llama2.c's tokenizer.bin. */
export function loadTokenizer(path: string): Promise<TextTokenizer> {
  return path.endsWith('.json') ? HfTokenizer.load(path) : Llama2cTokenizer.load(path);
}
