import { selectTfjsEngine } from '@blastkit/backend-tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from './gradients.js';

/** The tfjs engine training runs on. */
export interface TrainEngine {
  /** blastkit's engine name ('tfjs-node', 'wasm', 'cpu', …). */
  name: string;
  /** tfjs's backend name ('tensorflow', 'wasm', 'cpu'). */
  backend: string;
}

/**
 * Picks the fastest tfjs engine present through @blastkit/backend-tfjs's `selectTfjsEngine` (tfjs-node when
 * staged, else WebAssembly, else plain JavaScript) and registers the gradients training needs.
 */
export async function selectTrainEngine(preference?: string[]): Promise<TrainEngine> {
  const chosen = await selectTfjsEngine(preference);
  ensureGradients();
  // the engine registers in the tfjs-core instance this package imports when versions agree; make sure
  if (chosen.tf.getBackend() !== tf.getBackend())
    throw new Error(
      `@blastkit/train: backend-tfjs selected '${chosen.name}' in another @tensorflow/tfjs-core instance`,
    );
  return { name: chosen.name, backend: tf.getBackend() };
}
