import { type BackendTensor, type EighResult, formatShape, ShapeError } from '@blastkit/core';
import type { Runtime } from '../runtime.js';
import { handOff } from './cpu-handoff.js';

/** Symmetric eigendecomposition: a CPU hand-off to the float64 reference (QL iteration is serial). */
export function eigh(rt: Runtime, AIn: BackendTensor): EighResult {
  const A = rt.tensor(AIn, 'eigh input');
  if (A.shape.length !== 2 || A.shape[0] !== A.shape[1]) {
    throw new ShapeError(`eigh: A has shape ${formatShape(A.shape)}, expected [n,n]`);
  }
  const [values, vectors] = handOff(rt, 'eigh', [A], ['eigh values', 'eigh vectors']);
  return { values, vectors };
}
