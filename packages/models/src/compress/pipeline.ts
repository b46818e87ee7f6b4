import type { Backend, Tensor } from '@blastkit/core';
import { type CheckpointStore, MemoryCheckpointStore } from '@blastkit/factorize';
import {
  type CalibrationFeed,
  type LoadedModel,
  ModelInputError,
  type OpenedModel,
} from '../registry/architecture.js';
import {
  type CompressionInfo,
  linearCandidates,
  linearInputs,
  linearWeights,
  loadModel,
  saveCompressedModel,
  selectLinears,
} from '../registry/model-ops.js';
import type { ModuleSelection } from '../select.js';
import {
  CALIBRATED_METHODS,
  type CompressOptions,
  type CompressResult,
  compressLinears,
} from './compress.js';
import { planCompression } from './plan.js';
import type { SaveFolderOptions } from './saved.js';

/** One module of a run as planned: what a worker needs besides the run's settings. */
export interface PlannedModule {
  module: string;
  /** Position in the run: the module is solved with seed `seed + index`. */
  index: number;
  total: number;
  /** An exact rank (a budget or the allocation), else the ratio decides. */
  rank?: number;
}

/** The run once selected and planned: its modules in order and their exact ranks, if any. */
export interface CompressionRun {
  modules: string[];
  ranks?: ReadonlyMap<string, number>;
}

export interface CompressModelOptions
  extends Omit<CompressOptions, 'calibration' | 'recalibrate' | 'ranks' | 'store' | 'backend'> {
  backend: Backend;
  /** Which linears (PEFT's vocabulary); default: the architecture's default targets. */
  selection?: ModuleSelection;
  /** Exact ranks by module (a budget file): these modules are compressed, whatever the selection. */
  ranks?: ReadonlyMap<string, number>;
  /** Spread `ratio` over the selected modules by their predicted error (see `planCompression`). */
  allocate?: boolean;
  /** Data the calibrated methods need: run through the dense model, each linear's inputs observed. */
  calibration?: CalibrationFeed;
  /** A dense copy of the model already on `backend` to run the feed through; freed once calibrated. */
  calibrationModel?: LoadedModel;
  /** Each block calibrated on the model with the blocks before it already compressed (as ROM does). */
  sequential?: boolean;
  /** Opens the checkpoint store once the modules and ranks are known (they belong in its fingerprint). */
  checkpoints?: (run: CompressionRun) => Promise<CheckpointStore>;
  /**
   * Called after calibration, before factorizing, with every planned module and the store: what fills the
   * store elsewhere (remote workers) goes here; modules found in the store are not factorized again.
   */
  beforeFactorize?: (run: {
    jobs: PlannedModule[];
    store: CheckpointStore;
    calibration?: ReadonlyMap<string, Tensor>;
  }) => Promise<void>;
  /** Saves the result as a compressed model folder, `info` as its compression_config. */
  save?: { out: string; info: CompressionInfo; folder?: SaveFolderOptions };
}

export interface CompressModelResult extends CompressResult {
  /** The run as planned: the modules compressed, in order, and their exact ranks, if any. */
  run: CompressionRun;
}

/**
 * Compresses a model of any registered architecture: select the linears → plan their ranks → calibrate
 * (the feed through the dense model, every linear's inputs seen through the adapter's observe hook) →
 * factorize one matrix at a time with a checkpoint each → save. Returns the replacements, ROM's biases and a
 * report per module.
 */
export async function compressModel(
  opened: OpenedModel,
  options: CompressModelOptions,
): Promise<CompressModelResult> {
  let calibrationModel = options.calibrationModel;
  try {
    if (opened.replacements.size > 0)
      throw new ModelInputError(`${opened.description} is already compressed`);
    const run = await planRun(opened, options);
    const { modules, ranks } = run;
    if (options.sequential && !opened.entry.sequentialCalibration)
      throw new ModelInputError(
        `sequential calibration: not for ${opened.entry.label} models (their adapter takes no second bias)`,
      );
    if (CALIBRATED_METHODS.includes(options.method) && options.calibration === undefined)
      throw new ModelInputError(`${options.method} needs calibration data`);
    const store = options.checkpoints ? await options.checkpoints(run) : new MemoryCheckpointStore();
    const { backend } = options;
    const feed = options.calibration;
    let calibration: Map<string, Tensor> | undefined;
    if (feed) {
      calibration = await linearInputs(opened, backend, modules, feed, calibrationModel);
      calibrationModel?.dispose();
      calibrationModel = undefined;
    }
    await options.beforeFactorize?.({
      jobs: modules.map((module, index) => ({
        module,
        index,
        total: modules.length,
        ...(ranks?.has(module) ? { rank: ranks.get(module) } : {}),
      })),
      store,
      ...(calibration ? { calibration } : {}),
    });
    const {
      selection: _selection,
      allocate: _allocate,
      calibration: _feed,
      calibrationModel: _model,
      sequential: _sequential,
      checkpoints: _checkpoints,
      beforeFactorize: _before,
      save: _save,
      ...factorizing
    } = options;
    const result = await compressLinears(linearWeights(opened), modules, {
      ...factorizing,
      ranks,
      store,
      calibration,
      ...(options.sequential && feed
        ? {
            recalibrate: async (group, done) => {
              const partly = await loadModel(opened, backend, done);
              return linearInputs(opened, backend, group, feed, partly).finally(() => partly.dispose());
            },
          }
        : {}),
    });
    if (options.save)
      await saveCompressedModel(
        options.save.out,
        opened,
        result.replacements,
        result.biases,
        options.save.info,
        options.save.folder,
      );
    return { ...result, run };
  } finally {
    calibrationModel?.dispose();
  }
}

/** The modules a run compresses and their exact ranks: a budget's, the allocation's, or none (the ratio). */
async function planRun(opened: OpenedModel, options: CompressModelOptions): Promise<CompressionRun> {
  if (options.ranks) {
    const all = linearCandidates(opened);
    const unknown = [...options.ranks.keys()].filter((m) => !all.includes(m));
    if (unknown.length > 0) throw new ModelInputError(`no linear '${unknown[0]}' in ${opened.description}`);
    return { modules: [...options.ranks.keys()], ranks: options.ranks };
  }
  const modules = selectLinears(opened, options.selection ?? {});
  if (!options.allocate) return { modules };
  const plan = await planCompression(linearWeights(opened), modules, {
    method: options.method,
    ratio: options.ratio,
    blocks: options.blocks,
    allocate: true,
  });
  return { modules, ranks: new Map(plan.layers.map((l) => [l.name, l.rank])) };
}
