import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { architectureLabels, ModelFormatError } from '@blastkit/models';
import {
  BLAST_MIXINGS,
  type BlastMixing,
  exportOnnx,
  hasOnnxExport,
  ONNX_EXPORTERS,
  WEIGHT_DTYPES,
  type WeightDtype,
} from '@blastkit/onnx';
import {
  assertOutputApart,
  normalizePath,
  OutputSafetyError,
  outputFolderState,
} from '@blastkit/safetensors';
import { UsageError } from '../errors.js';
import { asUsage } from '../io/architecture.js';
import { openModel } from '../io/model-input.js';
import { inputPaths } from './compress.js';

export interface ExportCommandOptions {
  dir: string;
  /** Output folder: absent, empty or written by blastkit (replaced whole); never the input or around it. */
  out: string;
  /** Dense weights under the original names (no compression_config), for every architecture. */
  dense?: boolean;
  /** The BLAST reference implementation's blast_llama format (fp16 unless dtype F32); Llama only. */
  reference?: boolean;
  dtype?: 'F16' | 'F32';
  /**
   * ONNX for onnxruntime / transformers.js (every architecture with an exporter in @blastkit/onnx's
   * `ONNX_EXPORTERS`: Llama, GPT-2, ViT; dense or compressed input, structured layers kept, ROM biases added).
   */
  onnx?: boolean;
  /**
   * Weight storage of --onnx: fp32 (default), fp16, q8, q4. Not `dtype`: that is already --reference's
   * safetensors dtype.
   */
  onnxDtype?: WeightDtype;
  /** BLAST mixing formulation of --onnx (see @blastkit/onnx). */
  mixing?: BlastMixing;
}

/** `blastkit export`: re-save a compressed model folder for other tools. */
export async function runExport(options: ExportCommandOptions) {
  if ([options.dense, options.reference, options.onnx].filter(Boolean).length !== 1)
    throw new UsageError('give exactly one of --dense, --reference and --onnx');
  if (options.mixing !== undefined && !BLAST_MIXINGS.includes(options.mixing))
    throw new UsageError(`--mixing must be one of ${BLAST_MIXINGS.join(', ')}`);
  if (options.onnxDtype !== undefined && !WEIGHT_DTYPES.includes(options.onnxDtype))
    throw new UsageError(`--onnx-dtype must be one of ${WEIGHT_DTYPES.join(', ')}`);
  const out = normalizePath(options.out);
  const inputs = inputPaths(options.dir);
  try {
    assertOutputApart(options.out, inputs);
    await outputFolderState(out);
  } catch (err) {
    if (err instanceof OutputSafetyError) throw new UsageError(err.message);
    throw err;
  }
  const opened = await openModel(options.dir);
  try {
    // the tokenizer goes in before the folder appears
    const folder = {
      command: 'export',
      inputs,
      ...(opened.tokenizerPath ? { copy: [opened.tokenizerPath] } : {}),
    };
    if (options.onnx) {
      if (!hasOnnxExport(opened.architecture))
        throw new UsageError(
          `--onnx exports ${Object.keys(ONNX_EXPORTERS).join(', ')} models; ${opened.description} is ${opened.architecture}`,
        );
      // a ViT folder's own image processor settings go with it (else the exporter writes ViT's defaults)
      const preprocessor = await readPreprocessor(opened.format, options.dir);
      const r = await asUsage(() =>
        exportOnnx(
          out,
          {
            // the registry's opened model: `config` is the architecture's config, as its exporter takes it
            architecture: opened.architecture,
            config: opened.config,
            source: opened.source,
            replacements: opened.replacements,
            biases: opened.biases,
            ...(opened.tokenizerPath ? { tokenizerPath: opened.tokenizerPath } : {}),
            ...(preprocessor ? { preprocessor } : {}),
          },
          {
            dtype: options.onnxDtype ?? 'fp32',
            ...(options.mixing ? { mixing: options.mixing } : {}),
            command: 'export',
            inputs,
          },
        ),
      );
      return {
        from: options.dir,
        out: r.out,
        architecture: opened.architecture,
        format: 'onnx',
        modules: r.structured,
        onnx: { model: r.model, dtype: r.dtype, bytes: r.bytes, tokenizer: r.tokenizer },
      };
    }
    if (opened.format !== 'hf-folder' || opened.replacements.size === 0)
      throw new UsageError(`${options.dir} is not a compressed model folder (written by blastkit compress)`);
    const entry = opened.entry;
    if (options.reference && entry.exportReference === undefined)
      throw new UsageError(
        `--reference writes the BLAST reference's blast_llama format, for ${architectureLabels((a) => a.exportReference !== undefined)} models only; ${opened.description} is ${opened.architecture} (use --dense)`,
      );
    // biases an architecture keeps apart (ROM's, in a Llama folder) have no place in its checkpoint
    if (entry.biasesApart && opened.biases.size > 0)
      throw new UsageError(
        `${options.dir} has output biases (ROM's mean compensation), which a ${entry.label} checkpoint cannot hold`,
      );
    if (options.reference && entry.exportReference)
      await entry.exportReference(out, opened, { dtype: options.dtype ?? 'F16', ...folder });
    // the architecture's own file layout (Conv1D [in, out], conv kernels), no compression_config
    else await asUsage(() => entry.exportDense(out, opened, folder));
    return {
      from: options.dir,
      out,
      architecture: opened.architecture,
      format: options.dense ? 'dense' : 'blast_llama',
      modules: opened.replacements.size,
    };
  } catch (err) {
    if (err instanceof ModelFormatError || err instanceof OutputSafetyError)
      throw new UsageError(err.message);
    throw err;
  } finally {
    await opened.source.close();
  }
}

/** preprocessor_config.json beside a model folder, where there is one (a ViT's image processor settings). */
async function readPreprocessor(format: string, dir: string): Promise<Record<string, unknown> | undefined> {
  const path = join(dir, 'preprocessor_config.json');
  if (format !== 'hf-folder' || !existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`${path}: not JSON (${(err as Error).message})`);
  }
}
