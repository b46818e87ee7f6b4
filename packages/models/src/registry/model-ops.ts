import { type Backend, cpuKernels, type StructuredMatrix, Tensor } from '@blastkit/core';
import { type SaveFolderOptions, saveCompressedFolder } from '../compress/saved.js';
import { type ModuleSelection, selectModules } from '../select.js';
import type { TensorSource } from '../tensor-source.js';
import {
  type ArchitectureEntry,
  type CalibrationFeed,
  type LinearObserver,
  type LoadedModel,
  ModelInputError,
  type OpenedModel,
} from './architecture.js';

// What the tools do with any opened model, through its entry: no architecture is named here.

/** The linears compression can target, in network order. */
export function linearCandidates(m: OpenedModel): string[] {
  return m.entry.linearCandidates(m.config);
}

/** The candidates a PEFT-style selection picks, with the architecture's default targets. */
export function selectLinears(m: OpenedModel, selection: ModuleSelection): string[] {
  return selectModules(linearCandidates(m), selection, m.entry.defaultTargets);
}

/**
 * The model's weights with every candidate linear's `<module>.weight` as the linear [out, in] that compression
 * approximates: weights stored [in, out] (GPT-2's Conv1D) are transposed.
 */
export function linearWeights(m: OpenedModel): TensorSource {
  const transposed = m.entry.storedTransposed;
  if (transposed === undefined) return m.source;
  const source = m.source;
  const conv = new Set(
    linearCandidates(m)
      .filter((n) => transposed(n))
      .map((n) => `${n}.weight`),
  );
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

/** The dense weight [out, in] of a linear: its structure where the model is compressed. */
export async function denseLinear(m: OpenedModel, module: string): Promise<Tensor | StructuredMatrix> {
  return m.replacements.get(module) ?? linearWeights(m).readTensor(`${module}.weight`);
}

/**
 * Where the architecture takes no output biases of its own (`biasesApart` false), a compression bias (ROM's
 * mean compensation) is added to the layer's own bias instead — the same outputs. Returns the source to load or
 * save from, and the biases still apart.
 */
export function foldBiases(
  m: OpenedModel,
  source: TensorSource,
  biases: ReadonlyMap<string, Tensor>,
): { source: TensorSource; biases: Map<string, Tensor> } {
  if (m.entry.biasesApart || biases.size === 0) return { source, biases: new Map(biases) };
  const names = new Set(source.names());
  for (const module of biases.keys())
    if (!names.has(`${module}.bias`))
      throw new ModelInputError(
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

/** Loads the model onto `backend` with its replacements and biases (or the ones given). */
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
  return m.entry.load(folded.source, m.config, {
    backend,
    replacements,
    file: m.description,
    ...(m.entry.biasesApart ? { biases: folded.biases } : {}),
  });
}

/**
 * The inputs [rows, in] each of `modules` receives when `feed` runs through a model loaded by `entry`, through
 * the observe hook every adapter has. Rows keep the order of the calls, whatever order the downloads finish in.
 */
export async function observeLinearInputs(
  entry: ArchitectureEntry,
  model: LoadedModel,
  modules: readonly string[],
  feed: CalibrationFeed,
): Promise<Map<string, Tensor>> {
  const be = model.backend;
  const wanted = new Set(modules);
  const rows = new Map<string, { width: number; parts: Float32Array[] }>();
  const pending: Promise<void>[] = [];
  const observe: LinearObserver = (module, input) => {
    if (!wanted.has(module)) {
      be.dispose(input);
      return;
    }
    const width = input.shape[input.shape.length - 1];
    const seen = rows.get(module) ?? { width, parts: [] };
    rows.set(module, seen);
    // the slot is taken now, so rows keep the order of the calls whatever order the downloads finish in
    const slot = seen.parts.push(new Float32Array(0)) - 1;
    pending.push(
      be.download(input).then((host) => {
        be.dispose(input);
        seen.parts[slot] = host.data;
      }),
    );
  };
  try {
    await entry.observe(model, feed, observe);
  } finally {
    await Promise.all(pending);
  }
  const out = new Map<string, Tensor>();
  for (const module of modules) {
    const seen = rows.get(module);
    if (seen === undefined)
      throw new RangeError(`no activations reached '${module}' (not a linear of this ${entry.name} model?)`);
    const total = seen.parts.reduce((a, p) => a + p.length, 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const p of seen.parts) {
      data.set(p, offset);
      offset += p.length;
    }
    out.set(module, new Tensor([total / seen.width, seen.width], data));
  }
  return out;
}

/**
 * The inputs each of `modules` receives in the dense model `m` on `feed`; runs `loaded` (a copy already on
 * `backend`) instead of loading another.
 */
export async function linearInputs(
  m: OpenedModel,
  backend: Backend,
  modules: readonly string[],
  feed: CalibrationFeed,
  loaded?: LoadedModel,
): Promise<Map<string, Tensor>> {
  if (loaded) return observeLinearInputs(m.entry, loaded, modules, feed);
  const model = await loadModel(m, backend);
  try {
    return await observeLinearInputs(m.entry, model, modules, feed);
  } finally {
    model.dispose();
  }
}

/** The info block saved as `compression_config` (method, ratio, seed, …). */
export type CompressionInfo = { method: string; [extra: string]: unknown };

/**
 * Saves `m` with `replacements` as a compressed model folder: config.json (with `compression_config`) and
 * model.safetensors. ROM's output biases are kept apart or folded into the layers' own, as the entry says.
 */
export async function saveCompressedModel(
  out: string,
  m: OpenedModel,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  biases: ReadonlyMap<string, Tensor>,
  info: CompressionInfo,
  folder: SaveFolderOptions = {},
): Promise<void> {
  const configJson = m.entry.configJsonOf?.(m) ?? m.configJson;
  const folded = foldBiases(m, m.source, biases);
  const noted =
    !m.entry.biasesApart && biases.size > 0
      ? { ...info, output_biases: "ROM's mean compensation, added to each layer's bias" }
      : info;
  await saveCompressedFolder(out, configJson, folded.source, replacements, noted, folded.biases, folder);
}

/**
 * The source to save as a dense model under the original names: every replaced module multiplied back out and
 * stored as the file stores it (Conv1D [in, out], conv kernels 4-D), compression biases added to the layers'
 * own. Biases an architecture keeps apart have nowhere to go in its checkpoint: refused.
 */
export function denseExportSource(m: OpenedModel): TensorSource {
  const { source, biases } = foldBiases(m, m.source, m.biases);
  if (biases.size > 0)
    throw new ModelInputError(
      `${m.description} has output biases (ROM's mean compensation), which a ${m.entry.label} checkpoint cannot hold`,
    );
  const fileShapes = m.entry.fileShapes?.(m.config);
  const transposed = m.entry.storedTransposed;
  const replaced = new Map([...m.replacements].map(([module, s]) => [`${module}.weight`, { module, s }]));
  const shapeOf = (name: string): readonly number[] => {
    const r = replaced.get(name);
    if (r === undefined) return source.shapeOf(name);
    return fileShapes?.get(name) ?? r.s.shape;
  };
  return {
    names: () => [...source.names(), ...replaced.keys()],
    shapeOf,
    readTensor: async (name) => {
      const r = replaced.get(name);
      if (r === undefined) return source.readTensor(name);
      const dense = r.s.toDense();
      // a Conv1D holds the transpose; a conv kernel the same numbers in 4-D
      if (transposed?.(r.module)) return cpuKernels.transpose(dense, [1, 0]);
      return dense.reshape(shapeOf(name));
    },
    close: () => source.close(),
  };
}

/** Dense export for architectures whose folder is config.json + model.safetensors in their own layout. */
export async function saveDenseFolder(
  out: string,
  m: OpenedModel,
  folder: SaveFolderOptions = {},
): Promise<void> {
  await saveCompressedFolder(out, m.configJson, denseExportSource(m), new Map(), null, new Map(), folder);
}

/**
 * Runs `batch(start, count)` over `total` items in batches of `size`: how classifiers and denoisers run a
 * calibration feed.
 */
export async function inBatches(
  total: number,
  size: number,
  batch: (start: number, count: number) => Promise<void> | void,
): Promise<void> {
  for (let s = 0; s < total; s += size) await batch(s, Math.min(size, total - s));
}

/** Rows [start, start + count) of a batch-first tensor. */
export function batchRows(t: Tensor, start: number, count: number): Tensor {
  const per = t.size / t.shape[0];
  return new Tensor([count, ...t.shape.slice(1)], t.data.slice(start * per, (start + count) * per));
}
