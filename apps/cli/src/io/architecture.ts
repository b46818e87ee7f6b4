import type { Backend, StructuredMatrix, Tensor } from '@blastkit/core';
import {
  type CalibrationFeed,
  type LoadedModel,
  ModelInputError,
  type OpenedModel,
  denseExportSource as registryDenseExportSource,
  foldBiases as registryFoldBiases,
  linearInputs as registryLinearInputs,
  loadModel as registryLoadModel,
  selectLinears as registrySelectLinears,
  type TensorSource,
} from '@blastkit/models';
import { UsageError } from '../errors.js';
import type { SelectionOptions } from './selection.js';

// The model commands' view of @blastkit/models' architecture registry: what each architecture does lives in
// its entry; here the library's input errors become usage errors (exit 2), with the same words.

export { denseLinear, linearCandidates, linearWeights } from '@blastkit/models';
export type { CalibrationFeed as LinearFeed, LoadedModel };

/** Runs `f`, a refused model input (ModelInputError) becoming a UsageError with its message. */
export function asUsage<T>(f: () => T): T {
  try {
    const r = f();
    if (r instanceof Promise)
      return r.catch((err) => {
        throw err instanceof ModelInputError ? new UsageError(err.message) : err;
      }) as T;
    return r;
  } catch (err) {
    throw err instanceof ModelInputError ? new UsageError(err.message) : err;
  }
}

/** Whether the model is a decoder language model (perplexity, generation). */
export function isDecoder(m: OpenedModel): boolean {
  return m.entry.task === 'causal-lm';
}

/** The candidates the selection picks (PEFT's vocabulary), with the architecture's default targets. */
export function selectLinears(m: OpenedModel, options: SelectionOptions): string[] {
  return registrySelectLinears(m, {
    targetModules: options.targetModules,
    excludeModules: options.excludeModules,
    layersToTransform: options.layers,
  });
}

/** Compression biases folded into the layers' own where the architecture keeps none apart. */
export function foldBiases(
  m: OpenedModel,
  source: TensorSource,
  biases: ReadonlyMap<string, Tensor>,
): { source: TensorSource; biases: Map<string, Tensor> } {
  return asUsage(() => registryFoldBiases(m, source, biases));
}

/** Loads the model onto `backend`, with its replacements (or the ones given). */
export function loadModel(
  m: OpenedModel,
  backend: Backend,
  options: {
    replacements?: ReadonlyMap<string, StructuredMatrix>;
    biases?: ReadonlyMap<string, Tensor>;
  } = {},
): Promise<LoadedModel> {
  return asUsage(() => registryLoadModel(m, backend, options));
}

/** Frees a loaded model's weights. */
export function disposeModel(l: LoadedModel): void {
  l.dispose();
}

/** The inputs [rows, in] each of `modules` receives in the (dense) model `m` on `feed`. */
export function linearInputs(
  m: OpenedModel,
  backend: Backend,
  modules: readonly string[],
  feed: CalibrationFeed,
  /** A copy already loaded from `m` (dense) on `backend`, to run instead of loading another. */
  loaded?: LoadedModel,
): Promise<Map<string, Tensor>> {
  return asUsage(() => registryLinearInputs(m, backend, modules, feed, loaded));
}

/** The source to save as a dense model under the original names and layout. */
export function denseExportSource(m: OpenedModel): TensorSource {
  return asUsage(() => registryDenseExportSource(m));
}

/** One line on the architecture's sizes, for `inspect`. */
export function describeConfig(m: OpenedModel): string {
  return m.entry.describe(m.config);
}
