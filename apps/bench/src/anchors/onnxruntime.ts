import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../timing.js';
import type { AnchorResult } from './index.js';

// Y = A·B with both operands as inputs (fixtures/make-matmul-onnx.py wrote it)
const MODEL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'matmul.onnx');

interface Ort {
  InferenceSession: {
    create(
      path: string,
      options: Record<string, unknown>,
    ): Promise<{
      run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
      release(): Promise<void>;
    }>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  env: { versions?: { common?: string } };
}

/** onnxruntime-node's CPU MatMul [n×k]·[k×m] on `threads` intra-op threads: median seconds of ≥ 3 runs and ≥ 1 s. */
export async function onnxruntimeMatmul(
  n: number,
  k: number,
  m: number,
  threads: number,
): Promise<AnchorResult<{ seconds: number; gflops: number; library: string }>> {
  let ort: Ort;
  try {
    const spec = 'onnxruntime-node'; // a bench devDependency, optional at run time
    ort = ((await import(spec)) as { default?: Ort }).default ?? ((await import(spec)) as Ort);
  } catch (err) {
    return {
      measured: false,
      reason: `onnxruntime-node not loadable: ${(err as Error).message.split('\n')[0]}`,
    };
  }
  const session = await ort.InferenceSession.create(MODEL, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  try {
    const fill = (size: number, seed: number) =>
      Float32Array.from({ length: size }, (_, i) => ((i * seed) % 17) / 17 - 0.5);
    const feeds = {
      A: new ort.Tensor('float32', fill(n * k, 7), [n, k]),
      B: new ort.Tensor('float32', fill(k * m, 11), [k, m]),
    };
    await session.run(feeds);
    const samples: number[] = [];
    const start = performance.now();
    while (samples.length < 3 || performance.now() - start < 1000) {
      const t0 = performance.now();
      await session.run(feeds);
      samples.push((performance.now() - t0) / 1000);
    }
    const seconds = median(samples);
    const version = ort.env.versions?.common ?? '?';
    return {
      measured: true,
      seconds,
      gflops: (2 * n * k * m) / seconds / 1e9,
      library: `onnxruntime-node ${version}`,
    };
  } finally {
    await session.release();
  }
}
