import {
  type Backend,
  CpuBackend,
  DenseMatrix,
  InvalidArgumentError,
  type StructuredMatrix,
  type StructureKind,
  Tensor,
} from '@blastkit/core';
import { applyLinear, disposeLinear, uploadLinear } from '@blastkit/models';
import { checkAborted, ErrorAccumulator } from './stats.js';

/** How a compressed linear's outputs differ from the dense layer's on the same inputs. */
export interface LinearOutputError {
  module: string;
  /** [out, in]. */
  shape: [number, number];
  /** The candidate's structure. */
  kind: StructureKind;
  /** Input rows compared (tokens, patches, …). */
  rows: number;
  /** ‖X·Âᵀ (+ b̂) − X·Wᵀ‖_F / ‖X·Wᵀ‖_F. */
  relativeError: number;
  /** Mean of the squared output differences. */
  meanSquaredError: number;
}

/** Where the inputs came from and what was compared: recorded with every layer-error result. */
export interface LayerErrorProtocol {
  /** What produced the inputs, e.g. "128 tokens of moby-dick through the dense model". */
  inputs: string;
  /** Always the dense model's activations: each layer is measured alone, not after earlier compressed ones. */
  activations: 'reference model';
  /**
   * What an output is: the layer's matrix product, without the layer's own bias (the same in both models, it
   * would only dilute the error) but with a bias that came with the compression (ROM's mean compensation).
   */
  output: 'x·Wᵀ (+ compression bias)';
  [extra: string]: unknown;
}

export interface LayerErrorResult {
  protocol: LayerErrorProtocol;
  layers: LinearOutputError[];
  meanRelativeError: number;
  maxRelativeError: number;
  /** The module with the largest relative error. */
  worstModule: string;
}

export interface LayerErrorOptions {
  /** Output biases that came with the candidate's structures (ROM's), by module name. */
  biases?: ReadonlyMap<string, Tensor>;
  /** Where the products run (default: a CPU backend). */
  backend?: Backend;
  /** Describes the inputs in the protocol (default: 'given'). */
  inputs?: string;
  /** Extra protocol fields (seed, sequence count, …). */
  protocol?: Record<string, unknown>;
  onLayer?: (done: number, total: number, module: string) => void;
  signal?: AbortSignal;
}

/**
 * Per-layer output error of a compressed model: for every module of `candidate` (its structured
 * replacements), the outputs of the structure and of the dense weight (`reference(module)`, [out, in]) on the
 * inputs that layer saw in the dense model (`inputs`, [rows, in] by module: `linearInputs` of @blastkit/models,
 * through the observe hook every adapter has). Products run on the backend;
 * the errors are summed in float64.
 */
export async function linearOutputErrors(
  inputs: ReadonlyMap<string, Tensor>,
  reference: (module: string) => Promise<Tensor | StructuredMatrix>,
  candidate: ReadonlyMap<string, StructuredMatrix>,
  options: LayerErrorOptions = {},
): Promise<LayerErrorResult> {
  const be = options.backend ?? new CpuBackend();
  const modules = [...candidate.keys()];
  if (modules.length === 0)
    throw new InvalidArgumentError('no compressed linears to measure (the model has no structured layers)');
  const layers: LinearOutputError[] = [];
  for (const [index, module] of modules.entries()) {
    checkAborted(options.signal);
    const x = inputs.get(module);
    if (x === undefined) throw new InvalidArgumentError(`no inputs for '${module}'`);
    const structure = candidate.get(module) as StructuredMatrix;
    const refWeight = await reference(module);
    const dense = refWeight instanceof Tensor ? new DenseMatrix(refWeight) : refWeight;
    const [m, n] = structure.shape;
    if (dense.shape[0] !== m || dense.shape[1] !== n)
      throw new InvalidArgumentError(
        `'${module}': the reference weight is [${dense.shape}], the compressed one [${structure.shape}]`,
      );
    if (x.rank !== 2 || x.shape[1] !== n)
      throw new InvalidArgumentError(`'${module}': inputs have shape [${x.shape}], expected [rows, ${n}]`);
    const bias = options.biases?.get(module);
    const xh = be.upload(x);
    const ref = uploadLinear(be, dense);
    const cand = uploadLinear(be, structure, bias);
    try {
      const yRef = applyLinear(be, xh, ref);
      const yCand = applyLinear(be, xh, cand);
      const [a, b] = await Promise.all([be.download(yCand), be.download(yRef)]);
      be.dispose(yRef);
      be.dispose(yCand);
      const acc = new ErrorAccumulator();
      acc.add(a.data, b.data);
      layers.push({
        module,
        shape: [m, n],
        kind: structure.kind,
        rows: x.shape[0],
        relativeError: acc.relativeError,
        meanSquaredError: acc.meanSquaredError,
      });
    } finally {
      be.dispose(xh);
      disposeLinear(be, ref);
      disposeLinear(be, cand);
    }
    options.onLayer?.(index + 1, modules.length, module);
  }
  let worst = layers[0];
  for (const l of layers) if (l.relativeError > worst.relativeError) worst = l;
  return {
    protocol: {
      inputs: options.inputs ?? 'given',
      activations: 'reference model',
      output: 'x·Wᵀ (+ compression bias)',
      ...options.protocol,
    },
    layers,
    meanRelativeError: layers.reduce((s, l) => s + l.relativeError, 0) / layers.length,
    maxRelativeError: worst.relativeError,
    worstModule: worst.module,
  };
}
