import { CpuBackend, Rng } from '@blastkit/core';
import { closeness, describeBackendConformance, randomTensor } from '@blastkit/core/test';
import { expect, it } from 'vitest';
import { probeNative } from '../src/engine/native.js';
import { selectTfjsEngine, TfjsBackend } from '../src/index.js';

// @tensorflow/tfjs-node-gpu, when installed or staged (tools/tfjs-node/stage.sh --gpu). Its CUDA build needs
// libtensorflow-gpu 2.9.1 with CUDA 11.2 and cuDNN 8.1; staged from the TensorFlow CPU wheel it loads but finds
// no GPU. Three outcomes, each checked: not there (skipped, saying why), no GPU (refused, saying so, and its
// runtime serves the tfjs-node engine), a GPU (the conformance suite runs on it).
const probe = await probeNative('tfjs-node-gpu');

if (probe.ok) {
  describeBackendConformance({
    name: 'tfjs (tfjs-node-gpu engine)',
    createBackend: () => TfjsBackend.create({ engine: 'tfjs-node-gpu' }),
  });
} else if (probe.cpuOnly) {
  it('is refused for lack of a GPU, and its CPU runtime runs the tfjs-node engine', async () => {
    expect(probe.reason).toMatch(
      /TensorFlow lists no GPU device \(tfjs-node-gpu 4\.22 needs libtensorflow-gpu 2\.9\.1/,
    );
    await expect(selectTfjsEngine(['tfjs-node-gpu'])).rejects.toThrow(/lists no GPU device/);
    const be = await TfjsBackend.create({ engine: 'tfjs-node' });
    expect(be.describe().engine).toMatch(
      /tfjs-node-gpu 4\.22\.0 .* on the CPU \(the tfjs-node-gpu addon, on the CPU\)/,
    );
    const rng = new Rng(3);
    const [x, B, C, D] = [
      [5, 32],
      [4, 6, 3],
      [4, 3, 8],
      [4, 4, 3],
    ].map((s) => randomTensor(s, rng));
    const y = be.blastForward(be.upload(x), be.upload(B), be.upload(C), be.upload(D));
    const want = new CpuBackend().blastForward(x, B, C, D);
    expect(closeness(await be.download(y), want, { relative: 1e-5, absolute: 1e-6 })).toBeNull();
    await be.close();
  });
} else {
  const why = `tfjs-node-gpu checks skipped: ${probe.reason}`;
  console.warn(why);
  it.skip(why, () => {});
}
