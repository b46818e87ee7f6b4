import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from './gradients.js';

/** The tfjs engine training runs on. */
export interface TrainEngine {
  /** blastkit's engine name ('tfjs-node', 'wasm', 'cpu', …). */
  name: string;
  /** tfjs's backend name ('tensorflow', 'wasm', 'cpu'). */
  backend: string;
}

type Selector = (preference?: string[]) => Promise<{ name: string; tf: typeof tf }>;

/**
 * Picks the fastest tfjs engine present through @blastkit/backend-tfjs's `selectTfjsEngine` (tfjs-node when
 * staged, else WebAssembly, else plain JavaScript). While that package does not export it yet, falls back to
 * wasm, then cpu, set up here. Gradients are registered either way.
 */
export async function selectTrainEngine(preference?: string[]): Promise<TrainEngine> {
  const mod = (await import('@blastkit/backend-tfjs').catch(() => ({}))) as { selectTfjsEngine?: Selector };
  if (typeof mod.selectTfjsEngine === 'function') {
    const chosen = await mod.selectTfjsEngine(preference);
    ensureGradients();
    // the engine registers in the tfjs-core instance this package imports when versions agree; make sure
    if (chosen.tf.getBackend() !== tf.getBackend())
      throw new Error(
        `@blastkit/train: backend-tfjs selected '${chosen.name}' in another @tensorflow/tfjs-core instance`,
      );
    return { name: chosen.name, backend: tf.getBackend() };
  }
  const wanted = preference ?? ['wasm', 'cpu'];
  const reasons: string[] = [];
  for (const name of wanted) {
    try {
      if (name === 'wasm') {
        await import('@tensorflow/tfjs-backend-wasm');
        if (await tf.setBackend('wasm')) return finish('wasm', 'wasm');
        reasons.push('wasm: setBackend failed');
      } else if (name === 'cpu') {
        await import('@tensorflow/tfjs-backend-cpu');
        if (await tf.setBackend('cpu')) return finish('cpu', 'cpu');
        reasons.push('cpu: setBackend failed');
      } else reasons.push(`${name}: needs @blastkit/backend-tfjs's selectTfjsEngine`);
    } catch (err) {
      reasons.push(`${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no tfjs engine could be set up (${reasons.join('; ')})`);
}

function finish(name: string, backend: string): TrainEngine {
  ensureGradients();
  return { name, backend };
}
