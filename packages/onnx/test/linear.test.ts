import {
  BlastMatrix,
  BlockDiagonalMatrix,
  DenseMatrix,
  LowRankMatrix,
  MonarchMatrix,
  Rng,
  type StructuredMatrix,
  Tensor,
} from '@blastkit/core';
import { describe, expect, it } from 'vitest';
import {
  BLAST_MIXINGS,
  DataType,
  decodeModel,
  emitLinear,
  GraphBuilder,
  type LinearOptions,
  loadOnnxRuntime,
  type ModelProto,
} from '../src/index.js';

const rng = new Rng(7);
const gaussian = (shape: number[], std = 1) => {
  const t = new Tensor(shape);
  rng.fillNormal(t.data, std);
  return t;
};

/** Runs y = A·x through onnxruntime with x [2, 3, n] (or `lead`); returns y as rows [tokens, m]. */
async function runLinear(
  A: StructuredMatrix,
  x: Tensor,
  options: LinearOptions = {},
  leadDims: [number, number] = [2, 3],
): Promise<Float32Array> {
  const [m, n] = A.shape;
  const g = new GraphBuilder();
  // symbolic dims, as the exported models declare them: the graph cannot know the token count in advance
  const input = g.input('x', DataType.FLOAT, ['batch', 'seq', n]);
  const lead = g.op('Slice', [g.op('Shape', [input]), g.ints([0]), g.ints([2])]);
  const y = emitLinear(g, { x: input, lead }, A, 'layer', options);
  g.output(y, 'y', DataType.FLOAT, ['batch', 'seq', m]);
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(g.encode('linear'));
  const out = await session.run({ x: new ort.Tensor('float32', x.data, [...leadDims, n]) });
  expect(out.y.dims).toEqual([...leadDims, m]);
  await session.release();
  return out.y.data as Float32Array;
}

/** Every node of a graph and of its subgraphs (If branches). */
function allNodes(graph: ModelProto['graph']): ModelProto['graph']['node'] {
  return graph.node.flatMap((nd) => [
    nd,
    ...(nd.attribute ?? []).flatMap((a) => (a.g ? allNodes(a.g as ModelProto['graph']) : [])),
  ]);
}

function expectClose(actual: Float32Array, expected: Float32Array, tol: number) {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  expect(worst / scale).toBeLessThan(tol);
}

const m = 48;
const n = 32;
const cases: [string, () => StructuredMatrix][] = [
  ['dense', () => new DenseMatrix(gaussian([m, n]))],
  ['low-rank', () => new LowRankMatrix(gaussian([m, 5]), gaussian([n, 5]))],
  ['blast', () => BlastMatrix.random(m, n, 4, 6, rng)],
  ['monarch', () => new MonarchMatrix(gaussian([4, 12, 8]), gaussian([4, 8, 8]))],
  ['block-diagonal', () => new BlockDiagonalMatrix(gaussian([4, 12, 8]))],
];

describe('emitLinear: structured layers as standard ONNX ops, run by onnxruntime-node', () => {
  const x = gaussian([6, n]);
  for (const [kind, make] of cases) {
    it(`${kind}: equals the CPU reference's A·x`, async () => {
      const A = make();
      const expected = A.apply(x).data;
      expectClose(await runLinear(A, x), expected, 1e-5);
      expectClose(await runLinear(A, x, { dtype: 'q8' }), expected, 0.03);
    });
  }
  for (const mixing of BLAST_MIXINGS)
    it(`BLAST mixing '${mixing}' gives the same y`, async () => {
      const A = BlastMatrix.random(m, n, 4, 6, rng);
      expectClose(await runLinear(A, x, { mixing }), A.apply(x).data, 1e-5);
    });

  it("BLAST 'by-length': the one-token path (decode) and the many-token path agree with A·x, fp32 and q8", async () => {
    const A = BlastMatrix.random(m, n, 4, 6, rng);
    const one = gaussian([1, n]);
    for (const [input, dims] of [
      [one, [1, 1]],
      [x, [2, 3]],
      [x, [1, 6]],
    ] as [Tensor, [number, number]][]) {
      const expected = A.apply(input).data;
      expectClose(await runLinear(A, input, { mixing: 'by-length' }, dims), expected, 1e-5);
      expectClose(await runLinear(A, input, { mixing: 'by-length', dtype: 'q8' }, dims), expected, 0.03);
    }
  });

  it('q4 (MatMulNBits) stays within int4 error of a dense layer, and is ~8x smaller', async () => {
    const A = new DenseMatrix(gaussian([m, 64]));
    const x64 = gaussian([6, 64]);
    expectClose(await runLinear(A, x64, { dtype: 'q4' }), A.apply(x64).data, 0.2);
  });

  it('writes a model protobufjs reads back with the same nodes and only standard ops for fp32', () => {
    const g = new GraphBuilder();
    const input = g.input('x', DataType.FLOAT, ['batch', 3, n]);
    const lead = g.op('Slice', [g.op('Shape', [input]), g.ints([0]), g.ints([2])]);
    g.output(
      emitLinear(g, { x: input, lead }, BlastMatrix.random(m, n, 4, 6, rng), 'l'),
      'y',
      DataType.FLOAT,
      ['batch', 3, m],
    );
    const model = decodeModel(g.encode('t'));
    expect(model.opset_import).toEqual([{ domain: '', version: 17 }]);
    expect(new Set(allNodes(model.graph).map((nd) => nd.op_type))).toEqual(
      new Set([
        ...['Shape', 'Slice', 'Reshape', 'Transpose', 'MatMul', 'Concat', 'Identity'],
        ...['If', 'ReduceProd', 'Equal', 'Mul', 'ReduceSum'],
      ]),
    );
    // both paths of the If read the same three factors: nothing is stored twice
    const floats = model.graph.initializer.filter((t) => t.data_type === DataType.FLOAT);
    expect(floats.map((t) => t.name).sort()).toEqual(['l.B', 'l.C', 'l.D']);
  });
});
