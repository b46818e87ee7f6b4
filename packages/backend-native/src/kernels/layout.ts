import {
  type BackendTensor,
  concatShape,
  InvalidArgumentError,
  shapeSize,
  sliceShape,
  transposeShape,
} from '@blastkit/core';
import type { NativeTensor, Runtime } from '../runtime.js';

/** Row-major element strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** numpy.transpose(x, perm): one strided copy. */
export function transpose(rt: Runtime, x: BackendTensor, perm: readonly number[]): NativeTensor {
  const X = rt.tensor(x, 'transpose input');
  const outShape = transposeShape(X.shape, perm);
  const y = rt.alloc(outShape, 'transpose output');
  if (y.size === 0) return y;
  const inStrides = stridesOf(X.shape);
  rt.native.stridedCopy(
    rt.ctx,
    y.id,
    0,
    X.id,
    0,
    outShape,
    perm.map((p) => inStrides[p]),
    stridesOf(outShape),
  );
  return y;
}

/** x[begin:begin+size] per axis (-1: to the end). */
export function slice(
  rt: Runtime,
  x: BackendTensor,
  begin: readonly number[],
  size: readonly number[],
): NativeTensor {
  const X = rt.tensor(x, 'slice input');
  const outShape = sliceShape(X.shape, begin, size);
  if (!outShape.every((d) => Number.isInteger(d))) {
    throw new InvalidArgumentError(`slice: sizes [${size.join(',')}] must be integers (or -1)`);
  }
  const y = rt.alloc(outShape, 'slice output');
  if (y.size === 0) return y;
  const inStrides = stridesOf(X.shape);
  const offset = begin.reduce((sum, b, d) => sum + b * inStrides[d], 0);
  rt.native.stridedCopy(rt.ctx, y.id, 0, X.id, offset, outShape, inStrides, stridesOf(outShape));
  return y;
}

/** Joins tensors along one axis: one strided copy per input into its place. */
export function concat(rt: Runtime, xs: readonly BackendTensor[], axis: number): NativeTensor {
  const ts = xs.map((t, i) => rt.tensor(t, `concat input ${i}`));
  const { axis: ax, shape } = concatShape(
    ts.map((t) => t.shape),
    axis,
  );
  const y = rt.alloc(shape, 'concat output');
  if (y.size === 0) return y;
  const outStrides = stridesOf(shape);
  let along = 0;
  for (const t of ts) {
    if (shapeSize(t.shape) > 0) {
      rt.native.stridedCopy(
        rt.ctx,
        y.id,
        along * outStrides[ax],
        t.id,
        0,
        [...t.shape],
        stridesOf(t.shape),
        outStrides,
      );
    }
    along += t.shape[ax];
  }
  return y;
}
