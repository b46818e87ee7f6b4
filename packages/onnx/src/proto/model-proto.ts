import protobuf from 'protobufjs/light.js';
import { ONNX_SCHEMA } from './onnx-schema.js';

/** ONNX `TensorProto.DataType` codes used here. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** `AttributeProto.AttributeType` codes. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7 } as const;

/** A TensorProto as protobufjs takes it (snake_case, as in onnx.proto). */
export interface TensorProto {
  name: string;
  dims: number[];
  data_type: DataTypeCode;
  /** The values, little-endian; absent where they are stored externally. */
  raw_data?: Uint8Array;
  /** 1 (EXTERNAL): the values are in the file `external_data` names. */
  data_location?: number;
  /** `location`, `offset` and `length` of the values in an external data file. */
  external_data?: { key: string; value: string }[];
}

export type AttributeValue =
  | number
  | string
  | number[]
  | { float: number }
  | { floats: number[] }
  | { graph: GraphProto }
  | TensorProto;

export interface NodeProto {
  name: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: Record<string, unknown>[];
}

export interface ValueInfoProto {
  name: string;
  type: {
    tensor_type: {
      elem_type: DataTypeCode;
      /** Absent: the rank is not declared (a subgraph's outputs, whose shapes the runtime infers). */
      shape?: { dim: ({ dim_value: number } | { dim_param: string })[] };
    };
  };
}

/** A graph: the model's main graph, or the body of a control-flow node (`If`'s branches). */
export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface ModelProto {
  ir_version: number;
  producer_name: string;
  producer_version: string;
  opset_import: { domain: string; version: number }[];
  graph: GraphProto;
  metadata_props?: { key: string; value: string }[];
}

const root = protobuf.Root.fromJSON(ONNX_SCHEMA as unknown as protobuf.INamespace);
const ModelType = root.lookupType('onnx.ModelProto');

/** Serializes a model with protobufjs and the onnx.proto schema. */
export function encodeModel(model: ModelProto): Uint8Array {
  const message = ModelType.fromObject(model as unknown as Record<string, unknown>);
  return ModelType.encode(message).finish();
}

/** Parses a serialized model back (tests, and tools that inspect what was written). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return ModelType.toObject(ModelType.decode(bytes), {
    longs: Number,
    bytes: Uint8Array as unknown as typeof String,
    defaults: false,
  }) as unknown as ModelProto;
}

/**
 * An attribute in onnx.proto's form. Plain numbers are INT and number arrays INTS; floats are spelled
 * `{ float }` / `{ floats }` because a JavaScript number does not say which it is.
 */
export function attribute(name: string, value: AttributeValue): Record<string, unknown> {
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new RangeError(`attribute ${name}: ${value} is not an integer (use { float })`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (typeof value === 'string')
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if ('graph' in value) return { name, type: AttributeType.GRAPH, g: value.graph };
  return { name, type: AttributeType.TENSOR, t: value };
}
