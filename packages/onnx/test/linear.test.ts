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
  blastMixingFor,
  DataType,
  DEFAULT_BLAST_MIXING,
  decodeModel,
  emitLinear,
  emitLinearsOfOneInput,
  GraphBuilder,
  type LinearOptions,
  loadOnnxRuntime,
  type ModelProto,
  PER_BLOCK_MIN_ELEMENTS,
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

/** The encoded graph of one linear named `l`. */
function blastGraph(A: StructuredMatrix, options: LinearOptions = {}): Uint8Array {
  const [rows, cols] = A.shape;
  const g = new GraphBuilder();
  const input = g.input('x', DataType.FLOAT, ['batch', 3, cols]);
  const lead = g.op('Slice', [g.op('Shape', [input]), g.ints([0]), g.ints([2])]);
  g.output(emitLinear(g, { x: input, lead }, A, 'l', options), 'y', DataType.FLOAT, ['batch', 3, rows]);
  return g.encode('t');
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

  for (const mixing of ['by-length', 'per-block'] as const)
    it(`BLAST '${mixing}': the one-token path (decode) and the many-token path agree with A·x, fp32, q8 and q4`, async () => {
      // q4's MatMulNBits blocks run along the input: 64-wide blocks for per-block's 2-D factors
      const A = BlastMatrix.random(m, 128, 2, 40, rng);
      const x128 = gaussian([6, 128]);
      for (const [input, dims] of [
        [gaussian([1, 128]), [1, 1]],
        [x128, [2, 3]],
        [x128, [1, 6]],
      ] as [Tensor, [number, number]][]) {
        const expected = A.apply(input).data;
        expectClose(await runLinear(A, input, { mixing }, dims), expected, 1e-5);
        expectClose(await runLinear(A, input, { mixing, dtype: 'q8' }, dims), expected, 0.03);
        expectClose(await runLinear(A, input, { mixing, dtype: 'q4' }, dims), expected, 0.2);
      }
    });

  it('BLAST linears on one input share a chain (one x·C, one mixing, one U product) and give each A·x', async () => {
    const [A1, A2, A3] = [1, 2, 3].map(() => BlastMatrix.random(m, n, 4, 6, rng));
    const other = BlastMatrix.random(m, n, 4, 5, rng); // another rank: its own chain
    const dense = new DenseMatrix(gaussian([m, n]));
    const weights = [A1, dense, A2, other, A3];
    const names = ['a', 'd', 'b', 'o', 'c'];
    const build = (options: LinearOptions) => {
      const g = new GraphBuilder();
      const input = g.input('x', DataType.FLOAT, ['batch', 'seq', n]);
      const lead = g.op('Slice', [g.op('Shape', [input]), g.ints([0]), g.ints([2])]);
      const ys = emitLinearsOfOneInput(g, { x: input, lead }, weights, names, options);
      for (const [k, y] of ys.entries()) g.output(y, `y${k}`, DataType.FLOAT, ['batch', 'seq', m]);
      return g.encode('chain');
    };
    const floats = decodeModel(build({}))
      .graph.initializer.filter((t) => t.data_type === DataType.FLOAT)
      .map((t) => t.name);
    expect(floats).toEqual(expect.arrayContaining(['a+b+c.C', 'a+b+c.B', 'a+b+c.D', 'o.C', 'd.weight']));
    expect(floats.some((name) => /^[abc]\./.test(name))).toBe(false);
    expect(decodeModel(build({ fuse: false })).graph.initializer.map((t) => t.name)).toContain('a.C');
    const ort = await loadOnnxRuntime();
    for (const dtype of ['fp32', 'q8'] as const) {
      const session = await ort.InferenceSession.create(build({ dtype }));
      for (const [input, dims] of [
        [gaussian([1, n]), [1, 1]],
        [x, [2, 3]],
      ] as [Tensor, [number, number]][]) {
        const out = await session.run({ x: new ort.Tensor('float32', input.data, [...dims, n]) });
        for (const [k, A] of weights.entries())
          expectClose(out[`y${k}`].data as Float32Array, A.apply(input).data, dtype === 'fp32' ? 1e-5 : 0.03);
      }
      await session.release();
    }
  });

  it("BLAST 'per-block' stores each block's factors as a 2-D weight of its own (what onnxruntime prepacks)", () => {
    const model = decodeModel(blastGraph(BlastMatrix.random(m, n, 4, 6, rng), { mixing: 'per-block' }));
    const floats = model.graph.initializer.filter((t) => t.data_type === DataType.FLOAT);
    const blocks = floats.filter((t) => /^l\.[BC]\.\d+$/.test(t.name));
    expect(blocks).toHaveLength(8);
    expect(blocks.every((t) => t.dims.length === 2)).toBe(true);
    expect(floats.map((t) => t.name).filter((name) => !blocks.some((b) => b.name === name))).toEqual(['l.D']);
  });

  it("'auto' (the default) writes large blocks per block and small ones batched", () => {
    expect(DEFAULT_BLAST_MIXING).toBe('auto');
    // blocks 512 × 256 (p·r = the threshold); stories15M's 288 at b = 16: 18 × 69
    const large = BlastMatrix.random(1024, 1024, 2, 256, rng);
    const small = BlastMatrix.random(288, 288, 16, 69, rng);
    expect(blastMixingFor(large)).toBe('per-block');
    expect(blastMixingFor(small)).toBe('by-length');
    expect(blastMixingFor(BlastMatrix.random(1024, 1024, 2, 255, rng))).toBe('by-length');
    expect(blastMixingFor(large, 'matmul')).toBe('matmul');
    expect(512 * 256).toBe(PER_BLOCK_MIN_ELEMENTS);
  });

  it('q4 (MatMulNBits) stays within int4 error of a dense layer, and is ~8x smaller', async () => {
    const A = new DenseMatrix(gaussian([m, 64]));
    const x64 = gaussian([6, 64]);
    expectClose(await runLinear(A, x64, { dtype: 'q4' }), A.apply(x64).data, 0.2);
  });

  it('writes a model protobufjs reads back with the same nodes and only standard ops for fp32', () => {
    const model = decodeModel(blastGraph(BlastMatrix.random(m, n, 4, 6, rng)));
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
