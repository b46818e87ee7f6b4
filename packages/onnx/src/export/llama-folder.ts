import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { StructuredMatrix } from '@blastkit/core';
import { type LlamaConfig, llamaConfigToHf, type TensorSource } from '@blastkit/models';
import { writeOutputFolder } from '@blastkit/safetensors';
import type { BlastMixing } from '../layers/linear.js';
import type { WeightDtype } from '../layers/quantize.js';
import { buildLlamaGraph } from '../llama/llama-graph.js';
import { llama2cTokenizerJson } from '../tokenizer/llama2c-tokenizer-json.js';

/** transformers.js's file name for each dtype (`onnx/model{suffix}.onnx`). */
export const ONNX_FILE_NAMES: Record<WeightDtype, string> = {
  fp32: 'model.onnx',
  q8: 'model_quantized.onnx',
  q4: 'model_q4.onnx',
};

/** A Llama to export: what `openModel` / `openLlamaFolder` give. */
export interface LlamaExportInput {
  config: LlamaConfig;
  source: TensorSource;
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** tokenizer.bin (converted to tokenizer.json) or tokenizer.json (copied, with tokenizer_config.json beside it). */
  tokenizerPath?: string;
}

export interface LlamaExportOptions {
  dtype?: WeightDtype;
  mixing?: BlastMixing;
  /** Recorded in the folder's `.blastkit-output` marker (default 'export'). */
  command?: string;
  /** Paths the export reads: the folder may not be, contain or lie inside any of them. */
  inputs?: readonly string[];
}

export interface LlamaExportResult {
  out: string;
  /** The .onnx file, relative to `out`. */
  model: string;
  dtype: WeightDtype;
  /** Bytes of the .onnx file. */
  bytes: number;
  /** Linears written as structured ops (BLAST, low-rank, Monarch, block-diagonal). */
  structured: number;
  tokenizer: 'converted from tokenizer.bin' | 'copied' | 'none';
}

/**
 * Writes the folder transformers.js loads for a Llama (`AutoModelForCausalLM.from_pretrained(dir)`):
 * `config.json` (model_type llama), `generation_config.json`, `tokenizer.json` + `tokenizer_config.json`, and
 * `onnx/model.onnx` (or `model_quantized.onnx` for q8, `model_q4.onnx` for q4). The folder appears at once with
 * blastkit's output marker, and only an absent, empty or blastkit-written folder is replaced.
 */
export async function exportLlamaOnnx(
  out: string,
  input: LlamaExportInput,
  options: LlamaExportOptions = {},
): Promise<LlamaExportResult> {
  const dtype = options.dtype ?? 'fp32';
  const { graph, structured } = await buildLlamaGraph(input.config, input.source, input.replacements, {
    dtype,
    ...(options.mixing ? { mixing: options.mixing } : {}),
  });
  const bytes = graph.encode('llama', {
    producer: 'blastkit',
    dtype,
    structured_linears: String(structured),
  });
  const model = `onnx/${ONNX_FILE_NAMES[dtype]}`;
  let tokenizer: LlamaExportResult['tokenizer'] = 'none';
  const tok = input.tokenizerPath;
  const copy: string[] = [];
  if (tok && extname(tok) === '.json') {
    tokenizer = 'copied';
    copy.push(tok);
    const config = join(dirname(tok), 'tokenizer_config.json');
    if (existsSync(config)) copy.push(config);
  }
  const c = input.config;
  const written = await writeOutputFolder(
    out,
    async (temp) => {
      await mkdir(join(temp, 'onnx'));
      await writeFile(join(temp, model), bytes);
      const configJson = {
        ...llamaConfigToHf(c),
        use_cache: true,
        'transformers.js_config': { dtype, use_external_data_format: false },
      };
      await writeFile(join(temp, 'config.json'), `${JSON.stringify(configJson, null, 2)}\n`);
      const generation = {
        bos_token_id: c.bosTokenId ?? 1,
        eos_token_id: c.eosTokenIds ?? c.eosTokenId ?? 2,
        max_length: c.maxPositionEmbeddings,
      };
      await writeFile(join(temp, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);
      if (tok && extname(tok) === '.bin') {
        const converted = await llama2cTokenizerJson(tok, c.vocabSize);
        await writeFile(join(temp, 'tokenizer.json'), JSON.stringify(converted.tokenizer));
        const tokConfig = { ...converted.config, model_max_length: c.maxPositionEmbeddings };
        await writeFile(join(temp, 'tokenizer_config.json'), `${JSON.stringify(tokConfig, null, 2)}\n`);
        tokenizer = 'converted from tokenizer.bin';
      }
      for (const file of copy) await copyFile(file, join(temp, basename(file)));
    },
    { command: options.command ?? 'export', inputs: [...(options.inputs ?? []), ...(tok ? [tok] : [])] },
  );
  return { out: written, model, dtype, bytes: bytes.byteLength, structured, tokenizer };
}
