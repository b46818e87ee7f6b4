import { formatShape, InvalidArgumentError, ShapeError } from '../../errors.js';
import { shapeSize, Tensor } from '../../tensor/tensor.js';

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** numpy.transpose(x, perm). */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  const rank = x.rank;
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== rank || sorted.some((p, i) => p !== i)) {
    throw new InvalidArgumentError(
      `transpose: perm [${perm.join(',')}] is not a permutation of the ${rank} axes of ${formatShape(x.shape)}`,
    );
  }
  const outShape = perm.map((p) => x.shape[p]);
  const out = new Tensor(outShape);
  if (rank === 2 && perm[0] === 1) {
    const [m, n] = x.shape;
    // tiled so both sides stay in cache
    const T = 32;
    for (let i0 = 0; i0 < m; i0 += T) {
      for (let j0 = 0; j0 < n; j0 += T) {
        const iEnd = Math.min(m, i0 + T);
        const jEnd = Math.min(n, j0 + T);
        for (let i = i0; i < iEnd; i++)
          for (let j = j0; j < jEnd; j++) out.data[j * m + i] = x.data[i * n + j];
      }
    }
    return out;
  }
  const inStrides = stridesOf(x.shape);
  const srcStrides = perm.map((p) => inStrides[p]);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < out.size; i++) {
    out.data[i] = x.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      src += srcStrides[d];
      if (index[d] < outShape[d]) break;
      src -= srcStrides[d] * outShape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** x[begin:begin+size] per axis; a size of -1 runs to the end of that axis. */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  if (begin.length !== x.rank || size.length !== x.rank) {
    throw new ShapeError(`slice: begin/size need ${x.rank} entries for shape ${formatShape(x.shape)}`);
  }
  const outShape = size.map((s, d) => (s === -1 ? x.shape[d] - begin[d] : s));
  outShape.forEach((s, d) => {
    if (!Number.isInteger(begin[d]) || begin[d] < 0 || s < 0 || begin[d] + s > x.shape[d]) {
      throw new ShapeError(
        `slice: [${begin[d]}, ${begin[d] + s}) is outside axis ${d} of ${formatShape(x.shape)}`,
      );
    }
  });
  const out = new Tensor(outShape);
  const rank = x.rank;
  if (rank === 0) {
    out.data[0] = x.data[0];
    return out;
  }
  const inStrides = stridesOf(x.shape);
  const inner = outShape[rank - 1];
  const outer = inner === 0 ? 0 : shapeSize(outShape) / inner;
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < outer; r++) {
    let src = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) src += (begin[d] + index[d]) * inStrides[d];
    out.data.set(x.data.subarray(src, src + inner), r * inner);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < outShape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Joins tensors along one axis; all other axes must agree. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new InvalidArgumentError('concat: needs at least one tensor');
  const rank = xs[0].rank;
  const ax = axis < 0 ? axis + rank : axis;
  if (ax < 0 || ax >= rank)
    throw new InvalidArgumentError(`concat: axis ${axis} out of range for rank ${rank}`);
  xs.forEach((t, i) => {
    if (t.rank !== rank || t.shape.some((d, k) => k !== ax && d !== xs[0].shape[k])) {
      throw new ShapeError(
        `concat: input ${i} has shape ${formatShape(t.shape)}, incompatible with ${formatShape(xs[0].shape)} along axis ${ax}`,
      );
    }
  });
  const outShape = [...xs[0].shape];
  outShape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const out = new Tensor(outShape);
  const outer = shapeSize(outShape.slice(0, ax));
  const innerOut = shapeSize(outShape.slice(ax));
  let colOffset = 0;
  for (const t of xs) {
    const chunk = shapeSize(t.shape.slice(ax));
    for (let o = 0; o < outer; o++)
      out.data.set(t.data.subarray(o * chunk, (o + 1) * chunk), o * innerOut + colOffset);
    colOffset += chunk;
  }
  return out;
}
