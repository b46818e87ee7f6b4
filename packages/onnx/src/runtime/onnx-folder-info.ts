import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ArchitectureEntry, architectureOf, ModelFormatError, stopTokenIds } from '@blastkit/models';
import { ONNX_FILE_NAMES } from '../export/onnx-folder.js';
import { WEIGHT_DTYPES, type WeightDtype } from '../layers/quantize.js';

/** What an exported folder is, read from its config.json: enough to run it and to score text with it. */
export interface OnnxFolderInfo {
  dir: string;
  /** The architecture registry's entry for its `model_type`. */
  entry: ArchitectureEntry;
  /** config.json parsed by that entry (LlamaConfig, Gpt2Config, …). */
  config: unknown;
  /** The dtype written (`transformers.js_config.dtype`, as transformers.js reads it; fp32 when absent). */
  dtype: WeightDtype;
  /** `onnx/<file>`: the graph of that dtype. */
  file: string;
  /** tokenizer.json beside it, when there is one. */
  tokenizerPath?: string;
  /** Decoders only: the traits the evaluation and generation need. */
  decoder?: {
    promptBos: boolean;
    prefixToken: number | null;
    context: number;
    vocabSize: number;
    stopTokens: number[];
  };
}

/**
 * Reads an exported folder (`blastkit export --onnx`, or any transformers.js folder of an architecture blastkit
 * knows): its config.json, which graph file its dtype names, and what a decoder's prompts and windows need.
 * Throws ModelFormatError naming the file when the folder is not one.
 */
export async function readOnnxFolder(dir: string): Promise<OnnxFolderInfo> {
  const configPath = join(dir, 'config.json');
  const text = await readFile(configPath, 'utf8').catch(() => {
    throw new ModelFormatError(configPath, 'cannot read (is this an exported ONNX folder?)');
  });
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelFormatError(configPath, `is not JSON (${(err as Error).message})`);
  }
  const entry = architectureOf(json, configPath);
  const config = entry.parseConfig(json, configPath);
  const declared = (json['transformers.js_config'] as { dtype?: unknown } | undefined)?.dtype;
  if (declared !== undefined && !WEIGHT_DTYPES.includes(declared as WeightDtype))
    throw new ModelFormatError(
      configPath,
      `transformers.js_config.dtype is ${JSON.stringify(declared)}, expected one of ${WEIGHT_DTYPES.join(', ')}`,
    );
  const dtype = (declared ?? 'fp32') as WeightDtype;
  const file = ONNX_FILE_NAMES[dtype];
  if (!existsSync(join(dir, 'onnx', file)))
    throw new ModelFormatError(
      join(dir, 'onnx', file),
      `missing: config.json says the folder holds ${dtype}`,
    );
  const tokenizerPath = join(dir, 'tokenizer.json');
  const d = entry.decoder;
  return {
    dir,
    entry,
    config,
    dtype,
    file,
    ...(existsSync(tokenizerPath) ? { tokenizerPath } : {}),
    ...(d
      ? {
          decoder: {
            promptBos: d.promptBos,
            prefixToken: d.prefixToken(config),
            context: d.context(config),
            vocabSize: d.vocabSize(config),
            stopTokens: stopTokenIds(config as { eosTokenId?: number }),
          },
        }
      : {}),
  };
}
