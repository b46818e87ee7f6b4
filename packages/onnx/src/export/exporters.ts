import { exportGpt2Onnx } from '../gpt2/gpt2-export.js';
import { exportVitOnnx } from '../vit/vit-export.js';
import { exportLlamaOnnx } from './llama-folder.js';
import type { OnnxExportInput, OnnxExportOptions, OnnxExportResult } from './onnx-folder.js';

/**
 * The ONNX exporter of each architecture, by the registry's name (= Hugging Face `model_type`): what
 * `blastkit export --onnx` dispatches through. A new architecture is its folder here and one line.
 */
export const ONNX_EXPORTERS = {
  llama: exportLlamaOnnx,
  gpt2: exportGpt2Onnx,
  vit: exportVitOnnx,
} as const;

/** The architectures with an ONNX export. */
export type OnnxArchitecture = keyof typeof ONNX_EXPORTERS;

/** Whether `architecture` has an ONNX export. */
export function hasOnnxExport(architecture: string): architecture is OnnxArchitecture {
  return Object.hasOwn(ONNX_EXPORTERS, architecture);
}

/** An opened model of any architecture, tagged with it (the architecture registry's `OpenedModel` fits). */
export type OnnxExportAnyInput = OnnxExportInput<unknown> & { architecture: string };

/**
 * Exports `input` with its architecture's exporter (`ONNX_EXPORTERS[input.architecture]`); an architecture
 * without one is an error naming those that have one.
 */
export async function exportOnnx(
  out: string,
  input: OnnxExportAnyInput,
  options: OnnxExportOptions = {},
): Promise<OnnxExportResult> {
  const { architecture } = input;
  if (!hasOnnxExport(architecture))
    throw new Error(
      `no ONNX export for architecture '${architecture}' (there is one for ${Object.keys(ONNX_EXPORTERS).join(', ')})`,
    );
  // the config's own tag, where it has one, must agree with the architecture it is exported as
  const tag = (input.config as { modelType?: unknown }).modelType;
  if (tag !== undefined && tag !== architecture)
    throw new Error(`an ONNX export as '${architecture}' was given a '${String(tag)}' config`);
  // each exporter reads its own config type: the tag check above is what ties input to exporter
  const exporter = ONNX_EXPORTERS[architecture] as (
    out: string,
    input: OnnxExportInput<unknown>,
    options: OnnxExportOptions,
  ) => Promise<OnnxExportResult>;
  return exporter(out, input, options);
}
