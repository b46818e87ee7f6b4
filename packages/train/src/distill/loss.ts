import { InvalidArgumentError } from '@blastkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../ops.js';

/** Weights and temperature of the distillation objective. */
export interface DistillLossOptions {
  /**
   * Softmax temperature T of the KL term (default 1: then KL(teacher ‖ student) is the expected next-token
   * cross-entropy under the teacher minus a constant, the quantity perplexity measures).
   */
  temperature?: number;
  /** Weight of T²·KL(teacher_T ‖ student_T) (default 1). */
  klWeight?: number;
  /** Weight of the next-token cross-entropy at T = 1 (default 0: pure distillation). */
  ceWeight?: number;
  /**
   * How the softmaxes run: 'host' (one fused float64 JavaScript pass, best on the wasm and cpu engines),
   * 'tf' (tfjs ops, best on tfjs-node whose elementwise kernels are native and multithreaded), or 'auto'
   * (default: 'tf' on tfjs-node and WebGPU, else 'host'). Both compute the same objective.
   */
  mode?: 'auto' | 'host' | 'tf';
}

/** The loss mode 'auto' resolves to on the current engine. */
export function autoLossMode(): 'host' | 'tf' {
  const be = tf.getBackend();
  return be === 'tensorflow' || be === 'webgpu' ? 'tf' : 'host';
}

/** The parts of the last computed loss, per token, in nats. */
export interface DistillLossParts {
  /** KL(teacher ‖ student) at temperature T (not multiplied by T²). */
  kl: number;
  /** Next-token cross-entropy at T = 1 (NaN when no targets were given). */
  ce: number;
  tokens: number;
}

/**
 * The distillation loss of a batch with the frozen head fused in: student hidden states h [N, D] →
 * klWeight·T²·mean KL(softmax(t/T) ‖ softmax(s/T)) + ceWeight·mean CE(softmax(s), target), s = h·headᵀ.
 *
 * Why fused and on the host: with a 32k vocabulary the [N, V] softmaxes dominate a step, and tfjs's
 * WebAssembly engine runs each elementwise pass over them at ~20 M elements/s. One float64 JavaScript loop
 * computes both log-softmaxes, the loss and its exact gradient dL/ds in a single pass per row; the backward
 * pass is then one GEMM, dh = dL/ds·head. `teacherLogits` [N, V] are on the host; `targets[i]` is the
 * next token of row i (or -1 to leave the row out of the CE term).
 */
export function distillationLoss(
  h: tf.Tensor2D,
  head: { weight: tf.Tensor2D; transposed: tf.Tensor2D },
  teacherLogits: Float32Array | tf.Tensor2D,
  targets: Int32Array | null,
  options: DistillLossOptions = {},
  onParts?: (parts: DistillLossParts) => void,
): tf.Scalar {
  const T = options.temperature ?? 1;
  const klWeight = options.klWeight ?? 1;
  const ceWeight = options.ceWeight ?? 0;
  if (!(T > 0)) throw new InvalidArgumentError(`distillationLoss: temperature must be > 0, got ${T}`);
  if (!(klWeight >= 0 && ceWeight >= 0) || klWeight + ceWeight === 0)
    throw new InvalidArgumentError('distillationLoss: weights must be ≥ 0 and not both 0');
  const [N] = h.shape;
  const V = head.weight.shape[0];
  const given = teacherLogits instanceof Float32Array ? teacherLogits.length : teacherLogits.size;
  if (given !== N * V)
    throw new InvalidArgumentError(
      `distillationLoss: teacher logits have ${given} values, expected ${N}×${V}`,
    );
  if (ceWeight > 0 && (!targets || targets.length !== N))
    throw new InvalidArgumentError(`distillationLoss: the CE term needs ${N} targets`);
  if (targets)
    for (const t of targets)
      if (t >= V) throw new InvalidArgumentError(`distillationLoss: target ${t} ≥ vocabulary ${V}`);
  const mode = options.mode === undefined || options.mode === 'auto' ? autoLossMode() : options.mode;
  if (mode === 'tf') return tfOpsLoss(h, head, teacherLogits, targets, T, klWeight, ceWeight, onParts);
  const teacherHost =
    teacherLogits instanceof Float32Array ? teacherLogits : (teacherLogits.dataSync() as Float32Array);
  const f = tf.customGrad(((hIn: tf.Tensor2D) => {
    const logits = matMul(hIn, head.transposed);
    const s = logits.dataSync() as Float32Array;
    logits.dispose();
    const grad = new Float32Array(N * V);
    let klSum = 0;
    let ceSum = 0;
    let ceCount = 0;
    if (targets) for (let i = 0; i < N; i++) if (targets[i] >= 0) ceCount++;
    const eS = new Float64Array(V);
    const eT = new Float64Array(V);
    for (let i = 0; i < N; i++) {
      const o = i * V;
      // student and teacher log-partition functions at temperature T; exps kept for the second pass
      let maxS = Number.NEGATIVE_INFINITY;
      let maxT = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) {
        if (s[o + v] > maxS) maxS = s[o + v];
        if (teacherHost[o + v] > maxT) maxT = teacherHost[o + v];
      }
      let zS = 0;
      let zT = 0;
      for (let v = 0; v < V; v++) {
        zS += eS[v] = Math.exp((s[o + v] - maxS) / T);
        zT += eT[v] = Math.exp((teacherHost[o + v] - maxT) / T);
      }
      const logZS = Math.log(zS);
      const logZT = Math.log(zT);
      let kl = 0;
      // d(T²·KL)/ds = T·(p_S − p_T), each row averaged over N
      const gk = (klWeight * T) / N;
      for (let v = 0; v < V; v++) {
        const pT = eT[v] / zT;
        if (pT > 0) kl += pT * ((teacherHost[o + v] - maxT) / T - logZT - (s[o + v] - maxS) / T + logZS);
        grad[o + v] = gk * (eS[v] / zS - pT);
      }
      klSum += kl;
      const target = targets ? targets[i] : -1;
      if (target >= 0) {
        // softmax at T = 1 from the tempered exps where that is cheap (e^(x) = (e^(x/T))^T)
        const e1 = (v: number) => (T === 1 ? eS[v] : T === 2 ? eS[v] * eS[v] : Math.exp(s[o + v] - maxS));
        let z1 = 0;
        for (let v = 0; v < V; v++) z1 += e1(v);
        ceSum += Math.log(z1) + maxS - s[o + target];
        if (ceWeight > 0) {
          const gc = ceWeight / ceCount;
          for (let v = 0; v < V; v++) grad[o + v] += (gc * e1(v)) / z1;
          grad[o + target] -= gc;
        }
      }
    }
    const kl = klSum / N;
    const ce = ceCount > 0 ? ceSum / ceCount : Number.NaN;
    onParts?.({ kl, ce, tokens: N });
    const value = klWeight * T * T * kl + (ceWeight > 0 ? ceWeight * ce : 0);
    return {
      value: tf.scalar(value),
      gradFunc: (dy: tf.Tensor) =>
        tf.tidy(() => [tf.mul(matMul(tf.tensor2d(grad, [N, V]), head.weight), dy)]),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(h) as tf.Scalar;
}

/** The same objective as tfjs ops, differentiated by autograd (native engines run these multithreaded). */
function tfOpsLoss(
  h: tf.Tensor2D,
  head: { weight: tf.Tensor2D; transposed: tf.Tensor2D },
  teacherLogits: Float32Array | tf.Tensor2D,
  targets: Int32Array | null,
  T: number,
  klWeight: number,
  ceWeight: number,
  onParts?: (parts: DistillLossParts) => void,
): tf.Scalar {
  const [N] = h.shape;
  const V = head.weight.shape[0];
  return tf.tidy(() => {
    const s = matMul(h, head.transposed);
    const t = teacherLogits instanceof Float32Array ? tf.tensor2d(teacherLogits, [N, V]) : teacherLogits;
    const lpT = tf.logSoftmax(tf.div(t, T));
    const lpS = tf.logSoftmax(tf.div(s, T));
    const kl = tf.div(tf.sum(tf.mul(tf.exp(lpT), tf.sub(lpT, lpS))), N);
    let loss = tf.mul(kl, klWeight * T * T);
    let ce: tf.Tensor | null = null;
    if (targets) {
      const valid = Float32Array.from(targets, (x) => (x >= 0 ? 1 : 0));
      const count = valid.reduce((a, b) => a + b, 0);
      if (count > 0) {
        const lp1 = T === 1 ? lpS : tf.logSoftmax(s);
        const picked = tf.mul(
          tf.oneHot(
            tf.tensor1d(
              Int32Array.from(targets, (x) => Math.max(x, 0)),
              'int32',
            ),
            V,
          ),
          tf.tensor2d(valid, [N, 1]),
        );
        ce = tf.div(tf.neg(tf.sum(tf.mul(lp1, picked))), count);
        if (ceWeight > 0) loss = tf.add(loss, tf.mul(ce, ceWeight));
      }
    }
    if (onParts) {
      // reading the parts back costs two scalar downloads; only when asked
      onParts({ kl: kl.dataSync()[0], ce: ce ? ce.dataSync()[0] : Number.NaN, tokens: N });
    }
    return loss as tf.Scalar;
  });
}
