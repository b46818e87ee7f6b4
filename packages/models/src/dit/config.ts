import { ModelFormatError } from '../tensor-source.js';

/**
 * A DiT (Peebles & Xie 2023, facebookresearch/DiT `models.py`): the arguments of its `DiT` constructor.
 *
 * The DiT repository has no config file (checkpoints are bare state dicts, the architecture comes from the
 * command line), so blastkit reads a small `config.json` next to the weights whose keys are the constructor's
 * arguments in snake_case, with the constructor's defaults:
 *
 * ```json
 * { "model_type": "dit", "input_size": 32, "patch_size": 2, "in_channels": 4, "hidden_size": 1152,
 *   "depth": 28, "num_heads": 16, "mlp_ratio": 4.0, "class_dropout_prob": 0.1, "num_classes": 1000,
 *   "learn_sigma": true }
 * ```
 *
 * `model_type` is optional ('dit' when present). `"model": "DiT-XL/2"` (any name of the repo's `DiT_models`)
 * fills depth, hidden_size, patch_size and num_heads as the repo's constructors do; keys given next to it must
 * agree. `input_size` is the latent size: image size / 8 for the repo's VAE (32 for 256×256 images).
 */
export interface DitConfig {
  modelType: 'dit';
  /** Side of the (square) input latent. */
  inputSize: number;
  patchSize: number;
  inChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** > 0 adds the null class (label `numClasses`) used by classifier-free guidance. */
  classDropoutProb: number;
  numClasses: number;
  /** The output also holds the variance interpolation: outChannels = 2·inChannels. */
  learnSigma: boolean;
  outChannels: number;
}

/** Sizes of the sinusoidal timestep features (TimestepEmbedder's default; DiT never changes it). */
export const DIT_FREQUENCY_EMBEDDING_SIZE = 256;

/** The linears of every DiT block, as suffixes of `blocks.{i}.`: what compression replaces. */
export const DIT_LINEAR_MODULES = [
  'attn.qkv',
  'attn.proj',
  'mlp.fc1',
  'mlp.fc2',
  'adaLN_modulation.1',
] as const;

/** depth, hidden_size, patch_size, num_heads of the repo's `DiT_models` entries. */
export const DIT_PRESETS: Readonly<Record<string, readonly [number, number, number, number]>> = {
  'DiT-XL/2': [28, 1152, 2, 16],
  'DiT-XL/4': [28, 1152, 4, 16],
  'DiT-XL/8': [28, 1152, 8, 16],
  'DiT-L/2': [24, 1024, 2, 16],
  'DiT-L/4': [24, 1024, 4, 16],
  'DiT-L/8': [24, 1024, 8, 16],
  'DiT-B/2': [12, 768, 2, 12],
  'DiT-B/4': [12, 768, 4, 12],
  'DiT-B/8': [12, 768, 8, 12],
  'DiT-S/2': [12, 384, 2, 6],
  'DiT-S/4': [12, 384, 4, 6],
  'DiT-S/8': [12, 384, 8, 6],
};

/** Reads blastkit's DiT `config.json` object (see DitConfig); `file` names it in errors. */
export function ditConfigFromJson(json: Record<string, unknown>, file = 'config.json'): DitConfig {
  if (json.model_type !== undefined && json.model_type !== 'dit')
    throw new ModelFormatError(file, `model_type is '${String(json.model_type)}', expected 'dit'`);
  const defaults: Record<string, number | boolean> = {
    input_size: 32,
    patch_size: 2,
    in_channels: 4,
    hidden_size: 1152,
    depth: 28,
    num_heads: 16,
    mlp_ratio: 4.0,
    class_dropout_prob: 0.1,
    num_classes: 1000,
    learn_sigma: true,
  };
  if (json.model !== undefined) {
    const preset = DIT_PRESETS[String(json.model)];
    if (preset === undefined)
      throw new ModelFormatError(
        file,
        `model '${String(json.model)}' is not one of ${Object.keys(DIT_PRESETS).join(', ')}`,
      );
    const keys = ['depth', 'hidden_size', 'patch_size', 'num_heads'];
    keys.forEach((key, i) => {
      if (json[key] !== undefined && json[key] !== preset[i])
        throw new ModelFormatError(
          file,
          `'${key}' is ${JSON.stringify(json[key])} but model '${String(json.model)}' has ${preset[i]}`,
        );
      defaults[key] = preset[i];
    });
  }
  const int = (key: string): number => {
    const v = json[key] ?? defaults[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ModelFormatError(file, `'${key}' must be a positive integer (got ${JSON.stringify(v)})`);
    return v;
  };
  const mlpRatio = json.mlp_ratio ?? defaults.mlp_ratio;
  if (typeof mlpRatio !== 'number' || !(mlpRatio > 0) || !Number.isFinite(mlpRatio))
    throw new ModelFormatError(
      file,
      `'mlp_ratio' must be a positive number (got ${JSON.stringify(mlpRatio)})`,
    );
  const dropout = json.class_dropout_prob ?? defaults.class_dropout_prob;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1))
    throw new ModelFormatError(
      file,
      `'class_dropout_prob' must be a number in [0, 1] (got ${JSON.stringify(dropout)})`,
    );
  const learnSigma = json.learn_sigma ?? defaults.learn_sigma;
  if (typeof learnSigma !== 'boolean')
    throw new ModelFormatError(
      file,
      `'learn_sigma' must be true or false (got ${JSON.stringify(learnSigma)})`,
    );
  const inChannels = int('in_channels');
  const config: DitConfig = {
    modelType: 'dit',
    inputSize: int('input_size'),
    patchSize: int('patch_size'),
    inChannels,
    hiddenSize: int('hidden_size'),
    depth: int('depth'),
    numHeads: int('num_heads'),
    mlpRatio,
    classDropoutProb: dropout,
    numClasses: int('num_classes'),
    learnSigma,
    outChannels: learnSigma ? 2 * inChannels : inChannels,
  };
  validateDitConfig(config, file);
  return config;
}

/** The config in the JSON form `ditConfigFromJson` reads. */
export function ditConfigToJson(c: DitConfig): Record<string, unknown> {
  return {
    model_type: 'dit',
    input_size: c.inputSize,
    patch_size: c.patchSize,
    in_channels: c.inChannels,
    hidden_size: c.hiddenSize,
    depth: c.depth,
    num_heads: c.numHeads,
    mlp_ratio: c.mlpRatio,
    class_dropout_prob: c.classDropoutProb,
    num_classes: c.numClasses,
    learn_sigma: c.learnSigma,
  };
}

/** Throws a ModelFormatError naming `file` when the sizes cannot make a DiT. */
export function validateDitConfig(c: DitConfig, file: string): void {
  if (c.inputSize % c.patchSize !== 0)
    throw new ModelFormatError(
      file,
      `input_size ${c.inputSize} is not a multiple of patch_size ${c.patchSize}`,
    );
  if (c.hiddenSize % c.numHeads !== 0)
    throw new ModelFormatError(
      file,
      `hidden_size ${c.hiddenSize} is not a multiple of num_heads ${c.numHeads}`,
    );
  if (ditDims(c).mlpHidden < 1)
    throw new ModelFormatError(
      file,
      `int(hidden_size·mlp_ratio) = ${ditDims(c).mlpHidden}: the MLP is empty`,
    );
  if (c.outChannels !== (c.learnSigma ? 2 : 1) * c.inChannels)
    throw new ModelFormatError(
      file,
      `out channels ${c.outChannels} do not match in_channels ${c.inChannels} (learn_sigma ${c.learnSigma})`,
    );
}

/** Sizes that follow from the config. */
export interface DitDims {
  /** Patches per side (input_size / patch_size). */
  grid: number;
  /** Tokens per image: grid². */
  tokens: number;
  /** Values per patch: in_channels · patch_size², the patch embedding's input. */
  patchDim: number;
  headDim: number;
  /** int(hidden_size · mlp_ratio), as DiTBlock truncates it. */
  mlpHidden: number;
  /** Rows of the label table: num_classes, plus the null class when class_dropout_prob > 0. */
  labelRows: number;
}

/** The derived sizes of a DiT. */
export function ditDims(c: DitConfig): DitDims {
  const grid = Math.floor(c.inputSize / c.patchSize);
  return {
    grid,
    tokens: grid * grid,
    patchDim: c.inChannels * c.patchSize * c.patchSize,
    headDim: c.hiddenSize / c.numHeads,
    mlpHidden: Math.trunc(c.hiddenSize * c.mlpRatio),
    labelRows: c.numClasses + (c.classDropoutProb > 0 ? 1 : 0),
  };
}

/**
 * Every linear of a DiT by module name with its weight shape [out, in], in state-dict order. The patch
 * embedding `x_embedder.proj` is a stride-p convolution, i.e. a linear on (C, p, p)-ordered patches: its
 * [H, C, p, p] kernel is that linear's [H, C·p·p] weight.
 */
export function ditLinearShapes(c: DitConfig): Map<string, [number, number]> {
  const d = ditDims(c);
  const H = c.hiddenSize;
  const m = new Map<string, [number, number]>();
  m.set('x_embedder.proj', [H, d.patchDim]);
  m.set('t_embedder.mlp.0', [H, DIT_FREQUENCY_EMBEDDING_SIZE]);
  m.set('t_embedder.mlp.2', [H, H]);
  for (let i = 0; i < c.depth; i++) {
    m.set(`blocks.${i}.attn.qkv`, [3 * H, H]);
    m.set(`blocks.${i}.attn.proj`, [H, H]);
    m.set(`blocks.${i}.mlp.fc1`, [d.mlpHidden, H]);
    m.set(`blocks.${i}.mlp.fc2`, [H, d.mlpHidden]);
    m.set(`blocks.${i}.adaLN_modulation.1`, [6 * H, H]);
  }
  m.set('final_layer.linear', [c.patchSize * c.patchSize * c.outChannels, H]);
  m.set('final_layer.adaLN_modulation.1', [2 * H, H]);
  return m;
}

/** The block linears compression picks from (`blocks.{i}.{DIT_LINEAR_MODULES}`), in order. */
export function ditBlockLinearNames(c: DitConfig): string[] {
  const names: string[] = [];
  for (let i = 0; i < c.depth; i++) for (const s of DIT_LINEAR_MODULES) names.push(`blocks.${i}.${s}`);
  return names;
}

/** Every tensor of a DiT state dict under its PyTorch name, with the shape it must have. */
export function ditWeightShapes(c: DitConfig): Map<string, number[]> {
  const d = ditDims(c);
  const H = c.hiddenSize;
  const shapes = new Map<string, number[]>();
  shapes.set('pos_embed', [1, d.tokens, H]);
  for (const [module, [out, inp]] of ditLinearShapes(c)) {
    shapes.set(
      `${module}.weight`,
      module === 'x_embedder.proj' ? [H, c.inChannels, c.patchSize, c.patchSize] : [out, inp],
    );
    shapes.set(`${module}.bias`, [out]);
    if (module === 't_embedder.mlp.2') shapes.set('y_embedder.embedding_table.weight', [d.labelRows, H]);
  }
  return shapes;
}
