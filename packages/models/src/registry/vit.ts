import { VIT_LINEAR_MODULES, type VitConfig, vitConfigFromHf, vitWeightShapes } from '../vit/config.js';
import { VitModel } from '../vit/model.js';
import type { ArchitectureEntry } from './architecture.js';
import { layered } from './llama.js';
import { batchRows, inBatches, saveDenseFolder } from './model-ops.js';

/** ViT (transformers' ViTForImageClassification): the encoder's six linears per layer are the candidates. */
export const vitArchitecture: ArchitectureEntry<VitConfig, VitModel> = {
  name: 'vit',
  label: 'ViT',
  modelTypes: ['vit'],
  task: 'image-classification',
  fixture: 'tiny-vit',
  parseConfig: vitConfigFromHf,
  layers: (c) => ({ count: c.numLayers, key: 'num_hidden_layers' }),
  opensSingleFile: true,
  linearCandidates: (c) => layered(c.numLayers, VIT_LINEAR_MODULES, 'vit.encoder.layer'),
  defaultTargets: VIT_LINEAR_MODULES,
  fileShapes: vitWeightShapes,
  biasesApart: false,
  load: (source, config, options) => VitModel.load(source, config, options),
  observe: async (model, feed, observe) => {
    if (feed.kind !== 'images') throw new RangeError(`a vit model cannot read ${feed.kind}`);
    const { images, batchSize } = feed;
    await inBatches(images.shape[0], batchSize, (s, B) => {
      model.backend.dispose(model.forward(batchRows(images, s, B), { observe }));
    });
  },
  exportDense: saveDenseFolder,
  describe: (c) =>
    `vit: hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, ${c.numLayers} layers, ${c.numHeads} heads, ${c.imageSize}×${c.imageSize}×${c.numChannels} images, ${c.patchSize}×${c.patchSize} patches, ${c.numLabels} labels`,
};
