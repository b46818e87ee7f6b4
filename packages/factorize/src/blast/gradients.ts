import type { BackendTensor } from '@blastkit/core';
import type { BlastWorkspace } from './workspace.js';

/**
 * For each factor of BLAST, the two pieces every solver here needs, from a blocks tensor X [b², p, q]
 * (the residual A − Â for gradient methods, A itself for alternating least squares):
 *   rhs — the correlation of X with the other factors (−½ the gradient of ‖X‖² when X is the residual),
 *   gram — the r×r normal matrices (the reference's preconditioners, before +εI).
 * Solving gram·Δ = rhs gives the preconditioned step, or for X = A the exact least-squares factor.
 */
export interface FactorSystem {
  rhs: BackendTensor;
  gram: BackendTensor;
}

/**
 * U_i: rhs_i = Σ_j X_ij C_jᵀ diag(s_ij) [b,p,r]; gram_i = Σ_j (C_j C_jᵀ) ⊙ (s_ij s_ijᵀ) [b,r,r].
 * `CC` replaces C_j C_jᵀ [b,r,r] (the data-aware solver passes C_j Σ_jj C_jᵀ).
 */
export function systemForU(
  ws: BlastWorkspace,
  X: BackendTensor,
  C: BackendTensor,
  D: BackendTensor,
  CC: BackendTensor = ws.t(ws.backend.matmul(C, C, { transposeB: true })),
): FactorSystem {
  const be = ws.backend;
  const rhs: BackendTensor[] = [];
  const gram: BackendTensor[] = [];
  for (let i = 0; i < ws.b; i++) {
    const s = ws.couplings(D, i);
    const XC = ws.t(be.matmul(ws.blockRow(X, i), C, { transposeB: true })); // [b, p, r]: X_ij C_jᵀ
    rhs.push(ws.t(be.reshape(ws.t(be.reduce(ws.t(be.mul(XC, s)), 'sum', 0)), [1, ws.p, ws.r])));
    gram.push(ws.t(be.reshape(ws.weightedGramSum(CC, s), [1, ws.r, ws.r])));
  }
  return { rhs: ws.t(be.concat(rhs, 0)), gram: ws.t(be.concat(gram, 0)) };
}

/** C_j (= V_jᵀ): rhs_j = Σ_i diag(s_ij) U_iᵀ X_ij [b,r,q]; gram_j = Σ_i (U_iᵀU_i) ⊙ (s_ij s_ijᵀ) [b,r,r]. */
export function systemForC(
  ws: BlastWorkspace,
  X: BackendTensor,
  B: BackendTensor,
  D: BackendTensor,
): FactorSystem {
  const be = ws.backend;
  const BB = ws.t(be.matmul(B, B, { transposeA: true }));
  const byColumn = ws.columnMajorBlocks(X);
  const rhs: BackendTensor[] = [];
  const gram: BackendTensor[] = [];
  for (let j = 0; j < ws.b; j++) {
    const s = ws.couplings(D, j, true); // [b, 1, r]: s_ij over i
    const UX = ws.t(be.matmul(B, ws.blockRow(byColumn, j), { transposeA: true })); // [b, r, q]: U_iᵀ X_ij
    const sCol = ws.t(be.reshape(s, [ws.b, ws.r, 1]));
    rhs.push(ws.t(be.reshape(ws.t(be.reduce(ws.t(be.mul(UX, sCol)), 'sum', 0)), [1, ws.r, ws.q])));
    gram.push(ws.t(be.reshape(ws.weightedGramSum(BB, s), [1, ws.r, ws.r])));
  }
  return { rhs: ws.t(be.concat(rhs, 0)), gram: ws.t(be.concat(gram, 0)) };
}

/**
 * s_ij: rhs_ij = diag(U_iᵀ X_ij C_jᵀ) [b², r, 1]; gram_ij = (U_iᵀU_i) ⊙ (C_j C_jᵀ) [b², r, r].
 * The b²·r² gram is what the reference builds too; it is the largest intermediate of a step.
 * `CC` replaces C_j C_jᵀ as in systemForU.
 */
export function systemForS(
  ws: BlastWorkspace,
  X: BackendTensor,
  B: BackendTensor,
  C: BackendTensor,
  CC: BackendTensor = ws.t(ws.backend.matmul(C, C, { transposeB: true })),
): FactorSystem {
  const be = ws.backend;
  const BB = ws.t(be.matmul(B, B, { transposeA: true }));
  const rhs: BackendTensor[] = [];
  const gram: BackendTensor[] = [];
  for (let i = 0; i < ws.b; i++) {
    const XC = ws.t(be.matmul(ws.blockRow(X, i), C, { transposeB: true })); // [b, p, r]
    const diag = ws.t(be.reduce(ws.t(be.mul(XC, ws.block(B, i))), 'sum', 1)); // [b, r]
    rhs.push(ws.t(be.reshape(diag, [ws.b, ws.r, 1])));
    gram.push(ws.t(be.mul(ws.block(BB, i), CC)));
  }
  return { rhs: ws.t(be.concat(rhs, 0)), gram: ws.t(be.concat(gram, 0)) };
}
