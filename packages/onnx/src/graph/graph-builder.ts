import {
  type AttributeValue,
  attribute,
  DataType,
  type DataTypeCode,
  encodeModel,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../proto/model-proto.js';

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

/**
 * Builds one ONNX graph: inputs, initializers and nodes, with fresh value names. Values are passed around as
 * their names; `op` returns the output name(s). Weights go in as initializers (little-endian raw data).
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly usedDomains = new Map<string, number>();
  private readonly constantCache = new Map<string, string>();
  private counter = 0;

  /** A new unique value name starting with `hint`. */
  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
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

  /** A weight or other constant, stored as an initializer under `name` (made unique). */
  constant(name: string, dims: readonly number[], data: ConstantData): string {
    const unique =
      this.constantCache.has(name) || this.initializers.some((t) => t.name === name)
        ? this.fresh(name)
        : name;
    this.initializers.push({
      name: unique,
      dims: [...dims],
      data_type: elementType(data),
      raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
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

  /** A float32 scalar (or 1-D) constant, shared. */
  floats(values: readonly number[], scalar = true): string {
    const key = `f32:${scalar ? 's' : 'v'}:${values.join(',')}`;
    let name = this.constantCache.get(key);
    if (name === undefined) {
      name = this.constant(this.fresh('const_f32'), scalar ? [] : [values.length], Float32Array.from(values));
      this.constantCache.set(key, name);
    }
    return name;
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

  /** The serialized model (protobuf bytes). */
  encode(name: string, metadata: Record<string, string> = {}): Uint8Array {
    return encodeModel(this.toModel(name, metadata));
  }

  /** Bytes of all initializers: the weights' size on disk. */
  get weightBytes(): number {
    return this.initializers.reduce((s, t) => s + t.raw_data.byteLength, 0);
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
