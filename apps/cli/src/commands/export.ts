import {
  ModelFormatError,
  saveCompressedFolder,
  saveDenseLlama,
  saveReferenceBlastLlama,
} from '@blastkit/models';
import {
  assertOutputApart,
  normalizePath,
  OutputSafetyError,
  outputFolderState,
} from '@blastkit/safetensors';
import { UsageError } from '../errors.js';
import { denseExportSource } from '../io/architecture.js';
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
}

/** `blastkit export`: re-save a compressed model folder for other tools. */
export async function runExport(options: ExportCommandOptions) {
  if (Boolean(options.dense) === Boolean(options.reference))
    throw new UsageError('give exactly one of --dense and --reference');
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
    if (opened.format !== 'hf-folder' || opened.replacements.size === 0)
      throw new UsageError(`${options.dir} is not a compressed model folder (written by blastkit compress)`);
    if (opened.architecture === 'llama') {
      if (opened.biases.size > 0)
        throw new UsageError(
          `${options.dir} has output biases (ROM's mean compensation), which a Llama checkpoint cannot hold`,
        );
      if (options.dense) await saveDenseLlama(out, opened.config, opened.source, opened.replacements, folder);
      else
        await saveReferenceBlastLlama(out, opened.config, opened.source, opened.replacements, {
          dtype: options.dtype ?? 'F16',
          ...folder,
        });
    } else {
      if (options.reference)
        throw new UsageError(
          `--reference writes the BLAST reference's blast_llama format, for Llama models only; ${opened.description} is ${opened.architecture} (use --dense)`,
        );
      // the architecture's own file layout (Conv1D [in, out], conv kernels), no compression_config
      await saveCompressedFolder(
        out,
        opened.configJson,
        denseExportSource(opened),
        new Map(),
        null,
        new Map(),
        folder,
      );
    }
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
