import { describeBackendConformance } from '@blastkit/core/test';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { selectTfjsEngine, TfjsBackend } from '../src/index.js';

// The native CPU engine is optional: it runs when @tensorflow/tfjs-node can be loaded — installed next to
// this package, or staged by tools/tfjs-node/stage.sh (in $BLASTKIT_TFJS_NODE_DIR or the default cache
// folder). Otherwise this file reports one skipped test whose name says why (a failure instead when
// $BLASTKIT_REQUIRE_TFJS_NODE is set).
const engine = await selectTfjsEngine(['tfjs-node']).catch((err: Error) => err);

if (engine instanceof Error && process.env.BLASTKIT_REQUIRE_TFJS_NODE) {
  // tools/tfjs-node/verify.sh sets this: there a missing engine is a failure, not a skip
  it('loads tfjs-node (BLASTKIT_REQUIRE_TFJS_NODE is set)', () => {
    throw engine;
  });
} else if (engine instanceof Error) {
  const why = `tfjs-node conformance skipped: ${engine.message}`;
  console.warn(why);
  it.skip(why, () => {});
} else {
  it('runs on the TensorFlow C API', async () => {
    const backend = await TfjsBackend.create({ engine: 'tfjs-node' });
    expect(backend.engine).toBe('tfjs-node');
    expect(tf.getBackend()).toBe('tensorflow');
    console.info(`tfjs-node conformance on ${backend.describe().engine}`);
    await backend.close();
  });

  describeBackendConformance({
    name: 'tfjs (tfjs-node engine)',
    createBackend: () => TfjsBackend.create({ engine: 'tfjs-node' }),
  });
}
