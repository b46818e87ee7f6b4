import { type Backend, type BackendTensor, CpuBackend, Rng, type Tensor } from '@blastkit/core';
import { randomTensor } from '@blastkit/core/test';

const rng = new Rng(42);
const t = (shape: number[]) => randomTensor(shape, rng);

/** Fixed inputs for everyOperation (made once, so a leak check spends its time in the backend). */
export const INPUTS = (() => {
  const m = t([2, 8, 8]);
  const spd = new CpuBackend().matmul(m, m, { transposeB: true });
  for (let k = 0; k < 2; k++) for (let i = 0; i < 8; i++) spd.data[(k * 8 + i) * 8 + i] += 8;
  return { spd, shapes: new Map<string, Tensor>() };
})();

function input(shape: number[]): Tensor {
  const key = shape.join('x');
  let x = INPUTS.shapes.get(key);
  if (!x) {
    x = t(shape);
    INPUTS.shapes.set(key, x);
  }
  return x;
}

/** Every operation of the interface once, on uploaded inputs; returns every handle it made (inputs too). */
export function everyOperation(b: Backend): BackendTensor[] {
  const made: BackendTensor[] = [];
  const up = (shape: number[]) => keep(b.upload(input(shape)));
  const keep = <T extends BackendTensor>(h: T) => {
    made.push(h);
    return h;
  };
  const x = up([6, 24]);
  const sq = up([24, 24]);
  keep(b.matmul(x, sq, { transposeB: true }));
  keep(b.matmul(up([3, 6, 24]), up([1, 24, 5])));
  keep(b.linear(x, up([10, 24]), up([10])));
  keep(b.blastForward(x, up([4, 3, 5]), up([4, 5, 6]), up([4, 4, 5])));
  keep(b.blastForward(up([6, 12]), up([4, 3, 5]), up([4, 5, 6]), up([4, 4, 5]), { transpose: true }));
  keep(b.lowRankForward(x, up([9, 3]), up([24, 3])));
  keep(b.monarchForward(x, up([4, 3, 8]), up([4, 8, 6])));
  keep(b.blockDiagonalForward(x, up([4, 2, 6])));
  keep(b.add(x, up([24])));
  keep(b.sub(x, x));
  keep(b.mul(x, x));
  keep(b.scale(x, 2, 1));
  keep(b.unary(x, 'gelu'));
  keep(b.softmax(x));
  keep(b.rmsNorm(x, up([24]), 1e-5));
  keep(b.layerNorm(x, up([24]), up([24]), 1e-5));
  const heads = keep(b.reshape(x, [6, 3, 8]));
  keep(b.rope(heads, Int32Array.from([0, 1, 2, 3, 4, 5]), { theta: 10000, rotaryDim: 6 }));
  keep(b.embedding(sq, Int32Array.from([3, 0, 23])));
  keep(b.attention(heads, heads, heads, { causal: true }));
  keep(b.transpose(heads, [1, 0, 2]));
  keep(b.slice(x, [1, 2], [3, -1]));
  keep(b.concat([x, x], 1));
  keep(b.reduce(x, 'sum', 0));
  keep(b.reduce(x, 'max'));
  keep(b.argmax(x));
  keep(b.choleskySolve(keep(b.upload(INPUTS.spd)), up([2, 8, 3])));
  const e = b.eigh(sq);
  keep(e.values);
  keep(e.vectors);
  const s = b.truncatedSvd(x, 3);
  keep(s.U);
  keep(s.S);
  keep(s.V);
  return made;
}

/** Runs everyOperation `rounds` times, disposing everything each time. */
export function churn(b: Backend, rounds: number): number {
  let calls = 0;
  for (let i = 0; i < rounds; i++) {
    const made = everyOperation(b);
    calls += made.length;
    for (const h of made) b.dispose(h);
  }
  return calls;
}
