/**
 * The Node `webgpu` package (Dawn) for the browser (a Vite alias): `@blastkit/backend-webgpu` imports it only
 * when there is no `navigator.gpu`, and a page has no Dawn to fall back to.
 */
export function create(): never {
  throw new Error('this browser exposes no navigator.gpu, and Dawn for Node cannot run in a page');
}

export const globals = {};
