import {
  DIT_LINEAR_MODULES,
  type DitConfig,
  ditBlockLinearNames,
  ditConfigFromJson,
  ditWeightShapes,
} from '../dit/config.js';
import { DitModel } from '../dit/model.js';
import type { ArchitectureEntry } from './architecture.js';
import { batchRows, inBatches, saveDenseFolder } from './model-ops.js';

/** DiT (facebookresearch/DiT, blastkit's folder): the five block linears per block are the candidates. */
export const ditArchitecture: ArchitectureEntry<DitConfig, DitModel> = {
  name: 'dit',
  label: 'DiT',
  modelTypes: ['dit'],
  task: 'diffusion',
  fixture: 'tiny-dit',
  // blastkit's DiT config may leave model_type out (the DiT repo has no config file at all)
  detect: (json) =>
    json.model_type === undefined && ('depth' in json || 'model' in json) && 'input_size' in json,
  parseConfig: ditConfigFromJson,
  layers: (c) => ({ count: c.depth, key: 'depth' }),
  opensSingleFile: true,
  linearCandidates: ditBlockLinearNames,
  defaultTargets: DIT_LINEAR_MODULES,
  fileShapes: ditWeightShapes,
  biasesApart: false,
  load: (source, config, options) => DitModel.load(source, config, options),
  observe: async (model, feed, observe) => {
    if (feed.kind !== 'latents') throw new RangeError(`a dit model cannot read ${feed.kind}`);
    const { latents, timesteps, labels, batchSize } = feed;
    await inBatches(latents.shape[0], batchSize, async (s, B) => {
      await model.forward(batchRows(latents, s, B), timesteps.slice(s, s + B), labels.slice(s, s + B), {
        observe,
      });
    });
  },
  exportDense: saveDenseFolder,
  describe: (c) =>
    `dit: hidden ${c.hiddenSize}, ${c.depth} blocks, ${c.numHeads} heads, MLP ratio ${c.mlpRatio}, ${c.inputSize}×${c.inputSize}×${c.inChannels} latents, ${c.patchSize}×${c.patchSize} patches, ${c.numClasses} classes${c.learnSigma ? ', learned variance' : ''}`,
};
