/**
 * @blastkit/core/test — the shared backend conformance suite and its helpers (needs vitest).
 */
export { type ConformanceOptions, describeBackendConformance } from './conformance.js';
export { closeness, maxRelativeError, randomTensor, relativeError, type Tolerance } from './expect-close.js';
export { type GoldenCase, type GoldenFile, loadGolden } from './fixtures.js';
