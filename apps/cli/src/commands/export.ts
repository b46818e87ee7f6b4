import { architectureLabels, type LlamaConfig, ModelFormatError } from '@blastkit/models';
import { BLAST_MIXINGS, type BlastMixing, exportLlamaOnnx, type WeightDtype } from '@blastkit/onnx';
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
  /** ONNX for onnxruntime / transformers.js (Llama; dense or compressed input, structured layers kept). */
  onnx?: boolean;
  /** Weight storage of --onnx: fp32 (default), q8, q4. */
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
      if (!opened.entry.onnx)
        throw new UsageError(
          `--onnx exports ${architectureLabels((a) => a.onnx === true)} models only for now; ${opened.description} is ${opened.architecture}`,
        );
      if (opened.biases.size > 0)
        throw new UsageError(
          `${options.dir} has output biases (ROM's mean compensation), which --onnx does not write`,
        );
      const r = await exportLlamaOnnx(
        out,
        {
          // the ONNX exporter's decoder graph: every entry marked `onnx` has a LlamaConfig
          config: opened.config as LlamaConfig,
          source: opened.source,
          replacements: opened.replacements,
          ...(opened.tokenizerPath ? { tokenizerPath: opened.tokenizerPath } : {}),
        },
        {
          dtype: options.onnxDtype ?? 'fp32',
          ...(options.mixing ? { mixing: options.mixing } : {}),
          command: 'export',
          inputs,
        },
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
