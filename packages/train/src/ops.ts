import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether the current engine's GEMM is only fast without transpose flags. tfjs's WebAssembly engine runs
 * `matMul(a, b, false, true)` 10–20× slower than the plain product (measured: 512×288·288×768 takes 32 ms
 * plain, 390 ms with transposeB), and autograd's matMul gradient uses exactly those flags (dA = dy·Bᵀ,
 * dB = Aᵀ·dy). There an explicit transpose (memory-bound, ~40 G elements/s) followed by a plain GEMM wins.
 */
function explicitTransposes(): boolean {
  const be = tf.getBackend();
  return be === 'wasm' || be === 'cpu';
}

function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const n = perm.length;
  [perm[n - 2], perm[n - 1]] = [perm[n - 1], perm[n - 2]];
  return tf.transpose(t, perm);
}

// customGrad's typing passes every argument as Tensor | GradSaveFunc; the call below fixes the order.
const plainMatMul = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * tf.matMul (2-D or batched, same batch dims) that, on engines whose GEMM is slow with transpose flags,
 * runs forward and backward as explicit transposes plus plain GEMMs. Differentiable in both inputs.
 */
export function matMul<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeA = false, transposeB = false): T {
  if (!explicitTransposes()) return tf.matMul(a, b, transposeA, transposeB) as T;
  return tf.tidy(() => {
    const A = transposeA ? swapLast(a) : a;
    const B = transposeB ? swapLast(b) : b;
    if (A.rank === 3 && B.rank === 3 && tf.getBackend() === 'wasm' && A.shape[0] === B.shape[0]) {
      // wasm's batched GEMM takes a slow generic loop when both operands have a batch axis (0.5 GFLOP/s
      // measured against 7 for one 2-D GEMM); a stack of 2-D products is 2–3× faster.
      const as = tf.unstack(A);
      const bs = tf.unstack(B);
      return tf.stack(as.map((x, i) => plainMatMul(x, bs[i]))) as T;
    }
    return plainMatMul(A, B) as T;
  });
}
