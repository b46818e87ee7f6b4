import { existsSync } from 'node:fs';
import { copyFile, mkdir, open, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { StructuredMatrix, Tensor } from '@blastkit/core';
import type { TensorSource } from '@blastkit/models';
import { writeOutputFolder } from '@blastkit/safetensors';
import type { EncodedModel, GraphBuilder } from '../graph/graph-builder.js';
import type { BlastMixing } from '../layers/linear.js';
import type { WeightDtype } from '../layers/quantize.js';
import { llama2cTokenizerJson } from '../tokenizer/llama2c-tokenizer-json.js';

/** transformers.js's file name for each dtype (`onnx/model{suffix}.onnx`, its `dtype` option's suffixes). */
export const ONNX_FILE_NAMES: Record<WeightDtype, string> = {
  fp32: 'model.onnx',
  fp16: 'model_fp16.onnx',
  q8: 'model_quantized.onnx',
  q4: 'model_q4.onnx',
};

/**
 * A model to export, whatever its architecture: what `openModel` / the architecture registry's `OpenedModel`
 * give (`config` is the adapter's config: LlamaConfig, Gpt2Config, VitConfig).
 */
export interface OnnxExportInput<Config> {
  config: Config;
  /** The kept weights under the architecture's names, stored as in the file (GPT-2's Conv1D [in, out]). */
  source: TensorSource;
  /** Structured matrices replacing linears, [out, in], by module name. */
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM's mean compensation), added after the linear. */
  biases?: ReadonlyMap<string, Tensor>;
  /**
   * tokenizer.bin (llama2.c; converted to tokenizer.json) or tokenizer.json (copied, with the other tokenizer
   * files found beside it: tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt).
   */
  tokenizerPath?: string;
}

/** How a folder is written. */
export interface OnnxExportOptions {
  dtype?: WeightDtype;
  mixing?: BlastMixing;
  /** BLAST linears on one input in one chain where they can be (default true; see `emitLinearsOfOneInput`). */
  fuse?: boolean;
  /** Recorded in the folder's `.blastkit-output` marker (default 'export'). */
  command?: string;
  /** Paths the export reads: the folder may not be, contain or lie inside any of them. */
  inputs?: readonly string[];
  /**
   * Total weight bytes above which the weights (each initializer of 1 KiB or more) go to
   * `onnx/<model file>_data` beside the graph, as ONNX external data: default just under protobuf's 2 GiB
   * cap (`EXTERNAL_DATA_THRESHOLD`); 0 stores them externally whatever the size.
   */
  externalDataThreshold?: number;
}

/** What an export wrote. */
export interface OnnxExportResult {
  out: string;
  /** The .onnx file, relative to `out`. */
  model: string;
  dtype: WeightDtype;
  /** Bytes of the model on disk: the .onnx file, plus its external data file where there is one. */
  bytes: number;
  /** The external data file, relative to `out` (`onnx/model.onnx_data`), where the weights went to one. */
  externalData?: string;
  /** Linears written as structured ops (BLAST, low-rank, Monarch, block-diagonal). */
  structured: number;
  tokenizer: 'converted from tokenizer.bin' | 'copied' | 'none';
}

/** The files transformers.js's tokenizers read, copied from beside a given tokenizer.json when present. */
const TOKENIZER_SIDE_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];

/** What {@link writeOnnxFolder} writes besides the graph. */
export interface OnnxFolderParts {
  /** The encoded ONNX model (see {@link encodeForFolder}). */
  encoded: EncodedModel;
  dtype: WeightDtype;
  structured: number;
  /** config.json (`transformers.js_config` is added: the dtype written, no external data). */
  config: Record<string, unknown>;
  /** generation_config.json, for decoders. */
  generation?: Record<string, unknown>;
  /** preprocessor_config.json, for image models. */
  preprocessor?: Record<string, unknown>;
  tokenizerPath?: string;
  /** Vocabulary size and context, for a converted llama2.c tokenizer. */
  vocabSize?: number;
  maxLength?: number;
}

/**
 * Writes the folder transformers.js loads (`from_pretrained(dir)`): config.json, the optional generation,
 * preprocessor and tokenizer files, and `onnx/<ONNX_FILE_NAMES[dtype]>`. The folder appears at once with
 * blastkit's output marker; only an absent, empty or blastkit-written folder is replaced.
 */
export async function writeOnnxFolder(
  out: string,
  parts: OnnxFolderParts,
  options: OnnxExportOptions = {},
): Promise<OnnxExportResult> {
  const { dtype, encoded } = parts;
  const model = `onnx/${ONNX_FILE_NAMES[dtype]}`;
  const data = encoded.data;
  const tok = parts.tokenizerPath;
  let tokenizer: OnnxExportResult['tokenizer'] = 'none';
  const copy: string[] = [];
  if (tok && extname(tok) === '.json') {
    tokenizer = 'copied';
    copy.push(tok);
    for (const side of TOKENIZER_SIDE_FILES) {
      const path = join(dirname(tok), side);
      if (existsSync(path) && basename(tok) !== side) copy.push(path);
    }
  } else if (tok && extname(tok) !== '.bin')
    throw new Error(`tokenizer ${tok}: expected a llama2.c tokenizer.bin or a Hugging Face tokenizer.json`);
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const written = await writeOutputFolder(
    out,
    async (temp) => {
      await mkdir(join(temp, 'onnx'));
      await writeFile(join(temp, model), encoded.model);
      if (data) {
        // chunk by chunk: the data may be larger than one buffer can be
        const file = await open(join(temp, 'onnx', data.location), 'w');
        try {
          for (const chunk of data.chunks) await file.write(chunk);
        } finally {
          await file.close();
        }
      }
      // transformers.js reads its default dtype from here, so a plain from_pretrained finds the one file written;
      // and whether to fetch `<file>_data` (one chunk) beside it, by file name
      const config = {
        ...parts.config,
        'transformers.js_config': {
          dtype,
          use_external_data_format: data ? { [ONNX_FILE_NAMES[dtype]]: 1 } : false,
        },
      };
      await writeFile(join(temp, 'config.json'), json(config));
      if (parts.generation) await writeFile(join(temp, 'generation_config.json'), json(parts.generation));
      if (parts.preprocessor)
        await writeFile(join(temp, 'preprocessor_config.json'), json(parts.preprocessor));
      if (tok && extname(tok) === '.bin') {
        const converted = await llama2cTokenizerJson(tok, parts.vocabSize);
        await writeFile(join(temp, 'tokenizer.json'), JSON.stringify(converted.tokenizer));
        const tokConfig = {
          ...converted.config,
          ...(parts.maxLength ? { model_max_length: parts.maxLength } : {}),
        };
        await writeFile(join(temp, 'tokenizer_config.json'), json(tokConfig));
        tokenizer = 'converted from tokenizer.bin';
      }
      for (const file of copy) await copyFile(file, join(temp, basename(file)));
    },
    { command: options.command ?? 'export', inputs: [...(options.inputs ?? []), ...(tok ? [tok] : [])] },
  );
  return {
    out: written,
    model,
    dtype,
    bytes: encoded.model.byteLength + (data?.bytes ?? 0),
    ...(data ? { externalData: `onnx/${data.location}` } : {}),
    structured: parts.structured,
    tokenizer,
  };
}

/**
 * Serializes `graph` for the folder of `dtype`: one protobuf, or with the weights in
 * `<ONNX_FILE_NAMES[dtype]>_data` (the name transformers.js fetches) past `options.externalDataThreshold`.
 */
export function encodeForFolder(
  graph: GraphBuilder,
  name: string,
  metadata: Record<string, string>,
  dtype: WeightDtype,
  options: OnnxExportOptions = {},
): EncodedModel {
  return graph.encodeWithData(name, metadata, {
    location: `${ONNX_FILE_NAMES[dtype]}_data`,
    ...(options.externalDataThreshold !== undefined ? { threshold: options.externalDataThreshold } : {}),
  });
}

/** What every architecture's graph builder takes besides its config, weights and structures. */
export interface GraphBuildOptions {
  dtype: WeightDtype;
  mixing?: BlastMixing;
  fuse?: boolean;
  biases?: ReadonlyMap<string, Tensor>;
}

/**
 * Builds `input`'s graph with its architecture's `build` and encodes it for a folder: the part every exporter
 * shares before it writes its own config files.
 */
export async function buildForFolder<Config>(
  name: string,
  build: (
    config: Config,
    source: TensorSource,
    replacements: ReadonlyMap<string, StructuredMatrix> | undefined,
    options: GraphBuildOptions,
  ) => Promise<{ graph: GraphBuilder; structured: number }>,
  input: OnnxExportInput<Config>,
  options: OnnxExportOptions,
): Promise<{ encoded: EncodedModel; dtype: WeightDtype; structured: number }> {
  const dtype = options.dtype ?? 'fp32';
  const { graph, structured } = await build(input.config, input.source, input.replacements, {
    dtype,
    ...(options.mixing ? { mixing: options.mixing } : {}),
    ...(options.fuse !== undefined ? { fuse: options.fuse } : {}),
    ...(input.biases ? { biases: input.biases } : {}),
  });
  const metadata = { producer: 'blastkit', dtype, structured_linears: String(structured) };
  return { encoded: encodeForFolder(graph, name, metadata, dtype, options), dtype, structured };
}
