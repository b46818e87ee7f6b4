import {
  type AttributeValue,
  attribute,
  DataType,
  type DataTypeCode,
  encodeModel,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../proto/model-proto.js';
import { toFloat16 } from './float16.js';

/** The default-domain opset every graph here is written for (Split takes its sizes as an input from 13 on). */
export const OPSET = 17;
/** IR version 8 (ONNX 1.10+): what onnxruntime 1.x reads, and the IR opset 17 came with. */
export const IR_VERSION = 8;

/** Data a constant can be made of; the element type follows from the array type. */
export type ConstantData = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;

function elementType(data: ConstantData): DataTypeCode {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Int8Array) return DataType.INT8;
  if (data instanceof Uint8Array) return DataType.UINT8;
  if (data instanceof Int32Array) return DataType.INT32;
  return DataType.INT64;
}

/** A dimension of a graph input or output: a size, or a symbolic name ("batch_size"). */
export type Dim = number | string;

/** The element type of a graph's float activations and weights: float32, or float16 (`--dtype fp16`). */
export type FloatType = typeof DataType.FLOAT | typeof DataType.FLOAT16;

/** Options of {@link GraphBuilder}. */
export interface GraphBuilderOptions {
  /**
   * The float type of the graph (default FLOAT). With FLOAT16, float constants are stored as float16 unless
   * asked for as float32, and the graphs declare their float activations, cache and outputs with it.
   */
  floatType?: FloatType;
}

/**
 * Total weight bytes above which {@link GraphBuilder.encodeWithData} moves them to an external file: protobuf
 * caps a message at 2 GiB, and the graph's nodes need some room beside the weights.
 */
export const EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 27;

/** ONNX `TensorProto.DataLocation.EXTERNAL`. */
const DATA_LOCATION_EXTERNAL = 1;

/** Options of {@link GraphBuilder.encodeWithData}. */
export interface ExternalDataOptions {
  /** The data file's name, relative to the model file (transformers.js looks for `<model file>_data`). */
  location: string;
  /** Total weight bytes above which weights go to the file (default {@link EXTERNAL_DATA_THRESHOLD}; 0: always). */
  threshold?: number;
  /** Only initializers of at least this many bytes go to the file (default 1024, as onnx's own writer). */
  minTensorBytes?: number;
}

/** A serialized model and, where its weights went to a file of their own, that file's contents. */
export interface EncodedModel {
  /** The .onnx protobuf. */
  model: Uint8Array;
  /** The external data: `chunks` written one after the other make the file `location` (`bytes` long). */
  data?: { location: string; chunks: Uint8Array[]; bytes: number };
}

/** Options of {@link GraphBuilder.constant}. */
export interface ConstantOptions {
  /** Keep a Float32Array as float32 in a float16 graph (a part computed in float32, e.g. RoPE angles). */
  float32?: boolean;
}

/**
 * Builds one ONNX graph: inputs, initializers and nodes, with fresh value names. Values are passed around as
 * their names; `op` returns the output name(s). Weights go in as initializers (little-endian raw data).
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  // shared with the builders of this graph's subgraphs (If branches): one namespace, one set of initializers,
  // so a branch uses the main graph's weights instead of a copy
  private readonly initializers: TensorProto[];
  private readonly usedDomains: Map<string, number>;
  private readonly constantCache: Map<string, string>;
  private readonly counter: { next: number };
  /** The element type of float activations and weights (FLOAT unless built for fp16). */
  readonly floatType: FloatType;

  constructor(options: GraphBuilderOptions = {}, parent?: GraphBuilder) {
    this.floatType = parent?.floatType ?? options.floatType ?? DataType.FLOAT;
    this.initializers = parent?.initializers ?? [];
    this.usedDomains = parent?.usedDomains ?? new Map();
    this.constantCache = parent?.constantCache ?? new Map();
    this.counter = parent?.counter ?? { next: 0 };
  }

  /** A new unique value name starting with `hint`. */
  fresh(hint: string): string {
    return `${hint}_${this.counter.next++}`;
  }

  /**
   * An `If` node: `cond` (a bool scalar) picks which branch runs. Each branch is built on a builder for its
   * subgraph, may use any value of this graph (weights included: constants made in a branch are stored once, in
   * the main graph) and returns its `count` results; returns the node's outputs.
   */
  ifElse(
    cond: string,
    count: number,
    thenBranch: (g: GraphBuilder) => string[],
    elseBranch: (g: GraphBuilder) => string[],
  ): string[] {
    const branch = (build: (g: GraphBuilder) => string[], name: string): GraphProto => {
      const sub = new GraphBuilder({}, this);
      const results = build(sub);
      if (results.length !== count)
        throw new Error(`If branch ${name}: ${results.length} results, expected ${count}`);
      const output = results.map((value) => {
        // a branch's outputs are values its own nodes make: an outer value passes through an Identity
        const out = sub.fresh(`${name}_out`);
        sub.nodes.push(node('Identity', [value], [out], {}, out));
        return { name: out, type: { tensor_type: { elem_type: this.floatType } } };
      });
      return { name, node: sub.nodes, initializer: [], input: [], output };
    };
    const base = this.fresh('if');
    const outputs = Array.from({ length: count }, (_, i) => `${base}_${i}`);
    this.nodes.push(
      node(
        'If',
        [cond],
        outputs,
        {
          then_branch: { graph: branch(thenBranch, `${base}_then`) },
          else_branch: { graph: branch(elseBranch, `${base}_else`) },
        },
        base,
      ),
    );
    return outputs;
  }

  input(name: string, type: DataTypeCode, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares `value` as the graph output `name` (an Identity when the names differ). */
  output(value: string, name: string, type: DataTypeCode, dims: readonly Dim[]): void {
    if (value !== name) this.nodes.push(node('Identity', [value], [name], {}, `${name}_out`));
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * A weight or other constant, stored as an initializer under `name` (made unique). Float32 data is stored
   * as the graph's float type (float16 in an fp16 graph) unless `float32` is asked for.
   */
  constant(name: string, dims: readonly number[], data: ConstantData, options: ConstantOptions = {}): string {
    const unique =
      this.constantCache.has(name) || this.initializers.some((t) => t.name === name)
        ? this.fresh(name)
        : name;
    const half = data instanceof Float32Array && this.floatType === DataType.FLOAT16 && !options.float32;
    const stored = half ? toFloat16(data) : data;
    this.initializers.push({
      name: unique,
      dims: [...dims],
      data_type: half ? DataType.FLOAT16 : elementType(data),
      raw_data: new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength).slice(),
    });
    return unique;
  }

  /** A small int64 constant (shapes, axes), shared between the nodes that use the same values. */
  ints(values: readonly number[], scalar = false): string {
    const key = `i64:${scalar ? 's' : 'v'}:${values.join(',')}`;
    let name = this.constantCache.get(key);
    if (name === undefined) {
      name = this.constant(
        this.fresh('const_i64'),
        scalar ? [] : [values.length],
        BigInt64Array.from(values.map(BigInt)),
      );
      this.constantCache.set(key, name);
    }
    return name;
  }

  /** A float scalar (or 1-D) constant of the graph's float type (or float32 with `float32`), shared. */
  floats(values: readonly number[], scalar = true, options: ConstantOptions = {}): string {
    const float32 = options.float32 === true || this.floatType === DataType.FLOAT;
    const key = `${float32 ? 'f32' : 'f16'}:${scalar ? 's' : 'v'}:${values.join(',')}`;
    let name = this.constantCache.get(key);
    if (name === undefined) {
      name = this.constant(
        this.fresh(float32 ? 'const_f32' : 'const_f16'),
        scalar ? [] : [values.length],
        Float32Array.from(values),
        { float32 },
      );
      this.constantCache.set(key, name);
    }
    return name;
  }

  /** `x` cast to the graph's float type (nothing to do in a float32 graph), from a float32 part of it. */
  toFloatType(x: string): string {
    return this.floatType === DataType.FLOAT ? x : this.op('Cast', [x], { to: this.floatType });
  }

  /** `x` (of the graph's float type) as float32, for a part computed in float32 (no-op in a float32 graph). */
  toFloat32(x: string): string {
    return this.floatType === DataType.FLOAT ? x : this.op('Cast', [x], { to: DataType.FLOAT });
  }

  /** One node with a single output; returns its name. */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttributeValue> = {},
    domain = '',
  ): string {
    return this.opN(opType, inputs, 1, attrs, domain)[0];
  }

  /** One node with `count` outputs. */
  opN(
    opType: string,
    inputs: readonly string[],
    count: number,
    attrs: Record<string, AttributeValue> = {},
    domain = '',
  ): string[] {
    const base = this.fresh(opType.toLowerCase());
    const outputs = Array.from({ length: count }, (_, i) => (count === 1 ? base : `${base}_${i}`));
    this.nodes.push(node(opType, inputs, outputs, attrs, base, domain));
    if (domain !== '') this.usedDomains.set(domain, 1);
    return outputs;
  }

  /** The model, with the opsets of every domain used. */
  toModel(name: string, metadata: Record<string, string> = {}): ModelProto {
    return {
      ir_version: IR_VERSION,
      producer_name: 'blastkit',
      producer_version: '0.1.0',
      opset_import: [
        { domain: '', version: OPSET },
        ...[...this.usedDomains].map(([domain, version]) => ({ domain, version })),
      ],
      graph: {
        name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    };
  }

  /** The serialized model (protobuf bytes), every weight inside it (up to protobuf's 2 GB). */
  encode(name: string, metadata: Record<string, string> = {}): Uint8Array {
    return encodeModel(this.toModel(name, metadata));
  }

  /**
   * The serialized model, with its larger weights in an external data file when they add up to more than
   * `options.threshold` bytes (default {@link EXTERNAL_DATA_THRESHOLD}): a protobuf cannot exceed 2 GB. Each
   * such initializer then says `data_location: EXTERNAL` with `location`, `offset` and `length` into the file.
   */
  encodeWithData(name: string, metadata: Record<string, string>, options: ExternalDataOptions): EncodedModel {
    const model = this.toModel(name, metadata);
    const threshold = options.threshold ?? EXTERNAL_DATA_THRESHOLD;
    if (this.weightBytes <= threshold) return { model: encodeModel(model) };
    const minBytes = options.minTensorBytes ?? 1024;
    const chunks: Uint8Array[] = [];
    let offset = 0;
    model.graph.initializer = model.graph.initializer.map((t) => {
      const raw = t.raw_data;
      if (raw === undefined || raw.byteLength < minBytes) return t;
      // large tensors start on a 64 KiB boundary so a runtime may map them in place (Windows' granularity;
      // onnx's own writer aligns alike), small ones on 16 bytes
      const align = raw.byteLength >= 2 ** 20 ? 2 ** 16 : 16;
      const start = Math.ceil(offset / align) * align;
      if (start > offset) chunks.push(new Uint8Array(start - offset));
      chunks.push(raw);
      offset = start + raw.byteLength;
      const { raw_data: _inline, ...rest } = t;
      return {
        ...rest,
        data_location: DATA_LOCATION_EXTERNAL,
        external_data: [
          { key: 'location', value: options.location },
          { key: 'offset', value: String(start) },
          { key: 'length', value: String(raw.byteLength) },
        ],
      };
    });
    return { model: encodeModel(model), data: { location: options.location, chunks, bytes: offset } };
  }

  /** Bytes of all initializers: the weights' size on disk. */
  get weightBytes(): number {
    return this.initializers.reduce((s, t) => s + (t.raw_data?.byteLength ?? 0), 0);
  }
}

function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs: Record<string, AttributeValue>,
  name: string,
  domain = '',
): NodeProto {
  return {
    name,
    op_type: opType,
    ...(domain ? { domain } : {}),
    input: [...inputs],
    output: [...outputs],
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  };
}

function valueInfo(name: string, type: DataTypeCode, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: type,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}
