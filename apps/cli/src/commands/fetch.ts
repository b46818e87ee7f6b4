import { ASSETS, AssetError, fetchAsset, isAssetName } from '@blastkit/assets';
import { UsageError } from '../errors.js';

/** `blastkit fetch <asset>`: download (once) and verify an asset; returns its files' paths. */
export async function runFetch(name: string, onProgress?: (m: string) => void) {
  if (!isAssetName(name))
    throw new UsageError(`unknown asset '${name}' (known: ${Object.keys(ASSETS).join(', ')})`);
  try {
    const files = await fetchAsset(name, { onProgress });
    return { asset: name, description: ASSETS[name].description, license: ASSETS[name].license, files };
  } catch (err) {
    if (err instanceof AssetError) throw new UsageError(err.message);
    throw err;
  }
}
