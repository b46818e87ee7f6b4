import { type Backend, cpuKernels, type StructuredMatrix, Tensor } from '@blastkit/core';
import { LinearInputRecorder, type NoisePredictionInputs, noisedLatents } from '@blastkit/eval';
import {
  collectLinearInputs,
  DIT_LINEAR_MODULES,
  DitModel,
  ditBlockLinearNames,
  ditWeightShapes,
  GPT2_LINEAR_MODULES,
  Gpt2Model,
  gpt2WeightShapes,
  LLAMA_LINEAR_SUFFIXES,
  LlamaModel,
  selectModules,
  type TensorSource,
  VIT_LINEAR_MODULES,
  VitModel,
  vitWeightShapes,
} from '@blastkit/models';
import { UsageError } from '../errors.js';
import type { Architecture, OpenedModel } from './model-input.js';
import type { SelectionOptions } from './selection.js';

/** A model loaded onto a backend, tagged with its architecture. */
export type LoadedModel =
  | { architecture: 'llama'; model: LlamaModel }
  | { architecture: 'gpt2'; model: Gpt2Model }
  | { architecture: 'vit'; model: VitModel }
  | { architecture: 'dit'; model: DitModel };

/** Whether the architecture is a decoder language model (perplexity, generation). */
export function isDecoder(a: Architecture): a is 'llama' | 'gpt2' {
  return a === 'llama' || a === 'gpt2';
}

/**
 * The linears compression can target, in network order: the block linears (Llama's 7 projections, GPT-2's 4
 * Conv1Ds, ViT's 6 encoder linears, DiT's 5 block linears per layer). Embeddings, heads, the patch and
 * timestep embedders are never candidates, as PEFT leaves the output head alone.
 */
export function linearCandidates(m: OpenedModel): string[] {
  const names: string[] = [];
  switch (m.architecture) {
    case 'llama':
      for (let l = 0; l < m.config.numLayers; l++)
        for (const s of LLAMA_LINEAR_SUFFIXES) names.push(`model.layers.${l}.${s}`);
      return names;
    case 'gpt2':
      for (let l = 0; l < m.config.nLayer; l++)
        for (const s of GPT2_LINEAR_MODULES) names.push(`transformer.h.${l}.${s}`);
      return names;
    case 'vit':
      for (let l = 0; l < m.config.numLayers; l++)
        for (const s of VIT_LINEAR_MODULES) names.push(`vit.encoder.layer.${l}.${s}`);
      return names;
    case 'dit':
      return ditBlockLinearNames(m.config);
  }
}

/** The module-name suffixes compressed when --target-modules is not given: every block linear. */
export function defaultTargets(a: Architecture): readonly string[] {
  switch (a) {
    case 'llama':
      return LLAMA_LINEAR_SUFFIXES;
    case 'gpt2':
      return GPT2_LINEAR_MODULES;
    case 'vit':
      return VIT_LINEAR_MODULES;
    case 'dit':
      return DIT_LINEAR_MODULES;
  }
}

/** The candidates the selection picks (PEFT's vocabulary), with the architecture's default targets. */
export function selectLinears(m: OpenedModel, options: SelectionOptions): string[] {
  return selectModules(
    linearCandidates(m),
    {
      targetModules: options.targetModules,
      excludeModules: options.excludeModules,
      layersToTransform: options.layers,
    },
    defaultTargets(m.architecture),
  );
}

/**
 * The model's weights with every candidate linear's `<module>.weight` as the linear [out, in] that compression
 * approximates: GPT-2's Conv1D weights, stored [in, out], are transposed; other architectures store them so.
 */
export function linearWeights(m: OpenedModel): TensorSource {
  if (m.architecture !== 'gpt2') return m.source;
  const source = m.source;
  const conv = new Set(linearCandidates(m).map((n) => `${n}.weight`));
  return {
    names: () => source.names(),
    shapeOf: (name) => {
      const s = source.shapeOf(name);
      return conv.has(name) ? [s[1], s[0]] : s;
    },
    readTensor: async (name) => {
      const t = await source.readTensor(name);
      return conv.has(name) ? cpuKernels.transpose(t, [1, 0]) : t;
    },
    close: () => source.close(),
  };
}

/** The dense weight [out, in] of a linear: its structure multiplied out where the model is compressed. */
export async function denseLinear(m: OpenedModel, module: string): Promise<Tensor | StructuredMatrix> {
  return m.replacements.get(module) ?? linearWeights(m).readTensor(`${module}.weight`);
}

/**
 * GPT-2, ViT and DiT linears have their own biases, and their adapters take no extra ones: a compression bias
 * (ROM's mean compensation) is added to the layer's own bias instead — the same outputs. Llama keeps them apart
 * (its folder format stores them). Returns the source to load or save from, and the biases still apart.
 */
export function foldBiases(
  m: OpenedModel,
  source: TensorSource,
  biases: ReadonlyMap<string, Tensor>,
): { source: TensorSource; biases: Map<string, Tensor> } {
  if (m.architecture === 'llama' || biases.size === 0) return { source, biases: new Map(biases) };
  const names = new Set(source.names());
  for (const module of biases.keys())
    if (!names.has(`${module}.bias`))
      throw new UsageError(
        `'${module}' has no bias of its own to hold the compression's output bias (ROM); ` +
          'exclude it or use another method',
      );
  return {
    source: {
      names: () => source.names(),
      shapeOf: (name) => source.shapeOf(name),
      readTensor: async (name) => {
        const t = await source.readTensor(name);
        const extra = name.endsWith('.bias') ? biases.get(name.slice(0, -'.bias'.length)) : undefined;
        if (extra === undefined) return t;
        const sum = new Tensor(t.shape);
        for (let i = 0; i < t.size; i++) sum.data[i] = t.data[i] + extra.data[i];
        return sum;
      },
      close: () => source.close(),
    },
    biases: new Map(),
  };
}

/**
 * Loads the model onto `backend`, with its replacements (or the ones given). A recorder's backend and source
 * may stand in for the model's, to watch its linears' inputs.
 */
export async function loadModel(
  m: OpenedModel,
  backend: Backend,
  options: {
    replacements?: ReadonlyMap<string, StructuredMatrix>;
    biases?: ReadonlyMap<string, Tensor>;
    source?: TensorSource;
  } = {},
): Promise<LoadedModel> {
  const replacements = options.replacements ?? m.replacements;
  const folded = foldBiases(m, options.source ?? m.source, options.biases ?? m.biases);
  const common = { backend, replacements, file: m.description };
  switch (m.architecture) {
    case 'llama':
      return {
        architecture: 'llama',
        model: await LlamaModel.load(folded.source, m.config, { ...common, biases: folded.biases }),
      };
    case 'gpt2':
      return { architecture: 'gpt2', model: await Gpt2Model.load(folded.source, m.config, common) };
    case 'vit':
      return { architecture: 'vit', model: await VitModel.load(folded.source, m.config, common) };
    case 'dit':
      return { architecture: 'dit', model: await DitModel.load(folded.source, m.config, common) };
  }
}

/** Frees a loaded model's weights. */
export function disposeModel(l: LoadedModel): void {
  l.model.dispose();
}

/** What a model's linears see: token sequences (decoders), images (ViT), noise-prediction inputs (DiT). */
export type LinearFeed =
  | { kind: 'tokens'; sequences: number[][] }
  | { kind: 'images'; images: Tensor; batchSize: number }
  | { kind: 'latents'; inputs: NoisePredictionInputs; batchSize: number };

/**
 * The inputs [rows, in] each of `modules` receives in the (dense) model `m` on `feed`: through the decoders'
 * observe hook, or a LinearInputRecorder watching the ViT / DiT adapter.
 */
export async function linearInputs(
  m: OpenedModel,
  backend: Backend,
  modules: readonly string[],
  feed: LinearFeed,
  /** A decoder already loaded from `m` (dense) on `backend`, to run instead of loading another copy. */
  decoder?: LlamaModel | Gpt2Model,
): Promise<Map<string, Tensor>> {
  if (isDecoder(m.architecture)) {
    if (feed.kind !== 'tokens') throw new Error(`a ${m.architecture} model reads tokens`);
    if (decoder) return collectLinearInputs(decoder, feed.sequences, modules);
    const loaded = await loadModel(m, backend);
    try {
      return await collectLinearInputs(loaded.model as LlamaModel | Gpt2Model, feed.sequences, modules);
    } finally {
      disposeModel(loaded);
    }
  }
  const recorder = new LinearInputRecorder(backend, modules);
  const loaded = await loadModel(m, recorder.backend, { source: recorder.source(m.source) });
  try {
    if (loaded.architecture === 'vit' && feed.kind === 'images') {
      const { images, batchSize } = feed;
      const per = images.size / images.shape[0];
      for (let s = 0; s < images.shape[0]; s += batchSize) {
        const B = Math.min(batchSize, images.shape[0] - s);
        const batch = new Tensor([B, ...images.shape.slice(1)], images.data.slice(s * per, (s + B) * per));
        backend.dispose(loaded.model.forward(batch));
      }
    } else if (loaded.architecture === 'dit' && feed.kind === 'latents') {
      const { inputs, batchSize } = feed;
      const xt = noisedLatents(inputs);
      const N = xt.shape[0];
      const per = xt.size / N;
      for (let s = 0; s < N; s += batchSize) {
        const B = Math.min(batchSize, N - s);
        await loaded.model.forward(
          new Tensor([B, ...xt.shape.slice(1)], xt.data.slice(s * per, (s + B) * per)),
          Float32Array.from(inputs.timesteps.subarray(s, s + B)),
          inputs.labels.subarray(s, s + B),
        );
      }
    } else throw new Error(`a ${m.architecture} model cannot read ${feed.kind}`);
    return await recorder.inputs();
  } finally {
    disposeModel(loaded);
  }
}

/**
 * The source to save as a dense model under the original names: every replaced module multiplied back out
 * and stored as the file stores it (GPT-2 Conv1D [in, out], conv kernels 4-D), compression biases added to the
 * layers' own. A Llama's ROM biases have nowhere to go in a Llama checkpoint: refused.
 */
export function denseExportSource(m: OpenedModel): TensorSource {
  const { source, biases } = foldBiases(m, m.source, m.biases);
  if (biases.size > 0)
    throw new UsageError(
      `${m.description} has output biases (ROM's mean compensation), which a Llama checkpoint cannot hold`,
    );
  const fileShapes: Map<string, number[]> | undefined =
    m.architecture === 'gpt2'
      ? gpt2WeightShapes(m.config)
      : m.architecture === 'vit'
        ? vitWeightShapes(m.config)
        : m.architecture === 'dit'
          ? ditWeightShapes(m.config)
          : undefined;
  const replaced = new Map([...m.replacements].map(([module, s]) => [`${module}.weight`, s]));
  const shapeOf = (name: string): readonly number[] => {
    const s = replaced.get(name);
    if (s === undefined) return source.shapeOf(name);
    return fileShapes?.get(name) ?? s.shape;
  };
  return {
    names: () => [...source.names(), ...replaced.keys()],
    shapeOf,
    readTensor: async (name) => {
      const s = replaced.get(name);
      if (s === undefined) return source.readTensor(name);
      const dense = s.toDense();
      const shape = shapeOf(name);
      // a block Conv1D holds the transpose; a conv kernel the same numbers in 4-D
      if (m.architecture === 'gpt2' && /^transformer\.h\.\d+\./.test(name))
        return cpuKernels.transpose(dense, [1, 0]);
      return dense.reshape(shape);
    },
    close: () => source.close(),
  };
}

/** One line on the architecture's sizes, for `inspect`. */
export function describeConfig(m: OpenedModel): string {
  switch (m.architecture) {
    case 'llama': {
      const c = m.config;
      return `llama: hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, ${c.numLayers} layers, ${c.numHeads} heads (${c.numKvHeads} kv), vocab ${c.vocabSize}, context ${c.maxPositionEmbeddings}, ${c.tieWordEmbeddings ? 'tied' : 'untied'} head`;
    }
    case 'gpt2': {
      const c = m.config;
      return `gpt2: n_embd ${c.nEmbd}, n_inner ${c.nInner}, ${c.nLayer} layers, ${c.nHead} heads, vocab ${c.vocabSize}, context ${c.nPositions}, ${c.tieWordEmbeddings ? 'tied' : 'untied'} head`;
    }
    case 'vit': {
      const c = m.config;
      return `vit: hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, ${c.numLayers} layers, ${c.numHeads} heads, ${c.imageSize}×${c.imageSize}×${c.numChannels} images, ${c.patchSize}×${c.patchSize} patches, ${c.numLabels} labels`;
    }
    case 'dit': {
      const c = m.config;
      return `dit: hidden ${c.hiddenSize}, ${c.depth} blocks, ${c.numHeads} heads, MLP ratio ${c.mlpRatio}, ${c.inputSize}×${c.inputSize}×${c.inChannels} latents, ${c.patchSize}×${c.patchSize} patches, ${c.numClasses} classes${c.learnSigma ? ', learned variance' : ''}`;
    }
  }
}
