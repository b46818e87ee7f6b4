import * as tf from '@tensorflow/tfjs-core';

/**
 * tf.matMul, routed around one slow path of tfjs-backend-wasm 4.22: there a 2-D product goes to XNNPACK only
 * when neither operand is transposed (8 GFLOP/s at 512³ measured on the loaded development machine, against
 * 0.4–0.8 GFLOP/s with a transposed operand). So on wasm 2-D transposes are materialized first — an O(n²)
 * copy next to O(n³) work. Batched products (3-D) take wasm's scalar loop whatever the flags; splitting them
 * into 2-D products does not pay, as tfjs-wasm's unstack/split/slice copy at ~50–150 MB/s. Other engines get
 * tf.matMul unchanged.
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (tf.getBackend() === 'wasm' && a.rank === 2 && (transposeA || transposeB)) {
    return tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
  }
  return tf.matMul(a, b, transposeA, transposeB);
}
