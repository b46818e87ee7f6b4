import type { DecoderLm } from '../decoder-lm.js';
import type { CalibrationFeed, LinearObserver } from './architecture.js';

/**
 * The calibration passes of a decoder-only language model: each token sequence in one forward pass (so it must
 * fit the context), the head on the last position only, every linear's input to `observe`. Shared by the
 * decoder entries.
 */
export async function observeDecoder<Cache extends { readonly length: number }>(
  name: string,
  model: DecoderLm<Cache>,
  feed: CalibrationFeed,
  observe: LinearObserver,
): Promise<void> {
  if (feed.kind !== 'tokens') throw new RangeError(`a ${name} model reads tokens, not ${feed.kind}`);
  const be = model.backend;
  for (const ids of feed.sequences) {
    if (ids.length > model.config.maxPositionEmbeddings)
      throw new RangeError(
        `a calibration sequence of ${ids.length} tokens exceeds the context ${model.config.maxPositionEmbeddings}`,
      );
    const cache = model.newCache();
    try {
      be.dispose(model.forward(Int32Array.from(ids), cache, { lastOnly: true, observe }));
    } finally {
      model.disposeCache(cache);
    }
  }
}
