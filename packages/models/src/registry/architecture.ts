import type { Backend, BackendTensor, StructuredMatrix, Tensor } from '@blastkit/core';
import type { CompressionConfig, SaveFolderOptions } from '../compress/saved.js';
import type { TensorSource } from '../tensor-source.js';

/** What a model does, which decides how it is calibrated, evaluated and whether it generates. */
export type ModelTask = 'causal-lm' | 'image-classification' | 'diffusion';

/**
 * A model argument that cannot be used as given (no such architecture, an unsupported combination): the
 * message is for the person who gave it, as it is.
 */
export class ModelInputError extends Error {
  override name = 'ModelInputError';
}

/** What every adapter's loaded model offers the tools, whatever its task. */
export interface LoadedModel {
  readonly backend: Backend;
  /** Parameters of the linears compression changes (dense or structured). */
  linearParameterCount(): number;
  /** Frees every weight on the backend. */
  dispose(): void;
}

/** How an adapter is loaded: the backend, the structures replacing linears, a Llama's output biases. */
export interface LoadOptions {
  backend: Backend;
  replacements?: ReadonlyMap<string, StructuredMatrix>;
  /** Output biases of replaced modules, kept apart (only architectures with `biasesApart` take them). */
  biases?: ReadonlyMap<string, Tensor>;
  /** Name of the weight file, for error messages. */
  file?: string;
}

/**
 * What a model's linears see during calibration, by task: token sequences (decoders), images [N, C, S, S]
 * (classifiers), or noised latents with their timesteps and class labels (diffusion).
 */
export type CalibrationFeed =
  | { kind: 'tokens'; sequences: readonly (readonly number[])[] }
  | { kind: 'images'; images: Tensor; batchSize: number }
  | { kind: 'latents'; latents: Tensor; timesteps: Float32Array; labels: Int32Array; batchSize: number };

/** Receives a copy of a linear's input [rows, in]; it owns the copy (download it, then dispose it). */
export type LinearObserver = (module: string, input: BackendTensor) => void;

/** What the decoder-only language models add: how prompts and windows start, the context and vocabulary. */
export interface DecoderTraits<Config> {
  /** Prompts and calibration sequences start with BOS (Llama's tokenizers); else raw text (GPT-2). */
  promptBos: boolean;
  /** The token every evaluation window starts with (BOS), or null for none. */
  prefixToken(config: Config): number | null;
  /** Context length in tokens. */
  context(config: Config): number;
  vocabSize(config: Config): number;
  /**
   * `compress --compare` scores in-domain and Moby Dick text and times greedy continuations (needs a
   * tokenizer); without it, it reports what `eval --reference` does.
   */
  compareOnText?: boolean;
}

/**
 * One architecture, by Hugging Face `model_type`: everything the tools need to open, select, load, calibrate,
 * save and export a model of it. A new architecture is its adapter folder plus one of these, listed in
 * `architectures.ts` (see `registry/llama.ts` for the shape to copy).
 */
export interface ArchitectureEntry<Config = unknown, Model extends LoadedModel = LoadedModel> {
  /** The registry key, as messages and reports name it: 'llama'. */
  readonly name: string;
  /** For sentences: 'Llama'. */
  readonly label: string;
  /** config.json `model_type` values this entry reads. */
  readonly modelTypes: readonly string[];
  readonly task: ModelTask;
  /** The committed fixture folder under `packages/models/fixtures` the round-trip tests run it on. */
  readonly fixture: string;
  /** A config.json without a `model_type` this entry still recognises (blastkit's DiT config). */
  detect?(json: Record<string, unknown>): boolean;
  /** config.json → the adapter's config (throws ModelFormatError naming `file`). */
  parseConfig(json: Record<string, unknown>, file: string): Config;
  /** The layer count and its config key: a count past the tensors stored is a damaged config.json. */
  layers(config: Config): { count: number; key: string };
  /** The weights under the names the adapter loads (GPT-2 files without the `transformer.` prefix). */
  wrapSource?(source: TensorSource): TensorSource;
  /** False: a lone `.safetensors` file is refused (the folder holds what loading needs, e.g. shards). */
  readonly opensSingleFile: boolean;
  /** Other checkpoint files this architecture opens (Llama: llama2.c `.bin`). */
  readonly checkpoints?: readonly CheckpointReader<Config>[];
  /**
   * The linears compression can target, in network order: the block linears. Embeddings, heads and
   * embedders are never candidates, as PEFT leaves the output head alone.
   */
  linearCandidates(config: Config): string[];
  /** The module-name suffixes compressed when no target modules are given (PEFT's defaults). */
  readonly defaultTargets: readonly string[];
  /**
   * True for a candidate whose `<module>.weight` is stored [in, out] (GPT-2's Conv1D): compression sees every
   * linear [out, in], so these are transposed on read and back on export.
   */
  storedTransposed?(module: string): boolean;
  /** Shapes of the stored weights (conv kernels 4-D), where a dense export must restore them. */
  fileShapes?(config: Config): Map<string, number[]>;
  /**
   * Output biases of replaced modules (ROM) are kept apart and loaded as such (Llama); otherwise each is added
   * to the layer's own bias (the same outputs), as the adapter takes no second one.
   */
  readonly biasesApart: boolean;
  /** config.json to write when a compressed model is saved (default: the one read). */
  configJsonOf?(opened: OpenedModel<Config>): Record<string, unknown>;
  load(source: TensorSource, config: Config, options: LoadOptions): Promise<Model>;
  /** Runs `feed` through the model, calling `observe` with the input of every linear. */
  observe(model: Model, feed: CalibrationFeed, observe: LinearObserver): Promise<void>;
  /** Writes the dense model under its original names and layout, with no compression_config. */
  exportDense(out: string, opened: OpenedModel<Config>, folder: SaveFolderOptions): Promise<void>;
  /** Writes the BLAST reference implementation's format, where the architecture has one. */
  exportReference?(
    out: string,
    opened: OpenedModel<Config>,
    options: SaveFolderOptions & { dtype?: 'F16' | 'F32' },
  ): Promise<void>;
  /** Sequential calibration: each block calibrated on the model with the blocks before it compressed. */
  readonly sequentialCalibration?: boolean;
  /** One line on the sizes, for `inspect`. */
  describe(config: Config): string;
  /** Present exactly for the `causal-lm` task. */
  readonly decoder?: DecoderTraits<Config>;
}

/** A checkpoint file format an entry reads, by extension. */
export interface CheckpointReader<Config> {
  /** '.bin' */
  extension: string;
  /** For messages: 'a llama2.c .bin'. */
  label: string;
  open(path: string): Promise<OpenedCheckpoint<Config>>;
}

/** A checkpoint file opened by an entry's own reader: its config, weights and what to call it. */
export interface OpenedCheckpoint<Config> {
  config: Config;
  source: TensorSource;
  /** config.json to write when it is saved as a folder. */
  configJson: Record<string, unknown>;
  /** `OpenedModel.format`: 'llama2c'. */
  format: string;
  /** Said after its name: 'llama2.c v0'. */
  detail: string;
}

/** A model opened from its files (weights not read yet), with the entry that knows its architecture. */
export interface OpenedModel<Config = unknown> {
  /** The entry's name: 'llama'. */
  architecture: string;
  entry: ArchitectureEntry<Config>;
  config: Config;
  /** What it is, for messages: "stories15M (llama2.c v0)", "dir (gpt2 folder)". */
  description: string;
  /** 'hf-folder' for a model folder; an entry's checkpoint format otherwise ('llama2c'). */
  format: string;
  /** The kept weights under the architecture's names, stored as in the file (Conv1D [in, out], 4-D kernels). */
  source: TensorSource;
  replacements: Map<string, StructuredMatrix>;
  /** Output biases of replaced modules (ROM), kept apart: only `biasesApart` folders store them so. */
  biases: Map<string, Tensor>;
  compression?: CompressionConfig;
  /** config.json to write when the model is saved again. */
  configJson: Record<string, unknown>;
  /** tokenizer.bin (llama2.c) or tokenizer.json (Hugging Face) found next to the model, or given. */
  tokenizerPath?: string;
}
