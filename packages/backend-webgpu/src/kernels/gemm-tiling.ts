import { InvalidArgumentError } from '@blastkit/core';

/**
 * The register tiling of the GEMM: a workgroup computes a BM×BN tile of C, staging BK-deep slices of A and B
 * in workgroup memory; each invocation computes TM×TN outputs (rows and columns strided by the thread grid,
 * so workgroup-memory reads are conflict-free and the stores coalesce).
 */
export interface GemmTiling {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/** 256 invocations, 16 outputs each: the default where the device allows 256 invocations per workgroup. */
export const GEMM_TILING_64: GemmTiling = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
/** 256 invocations, 64 outputs each: more reuse per load, for large GEMMs on a GPU with many registers. */
export const GEMM_TILING_128: GemmTiling = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
/** 128 invocations: for devices held to compatibility mode's 128 invocations per workgroup. */
export const GEMM_TILING_SMALL: GemmTiling = { BM: 64, BN: 32, BK: 16, TM: 4, TN: 4 };

/** Checks a tiling against the device: divisibility, invocations and workgroup memory. */
export function checkTiling(t: GemmTiling, maxInvocations: number, maxWorkgroupBytes: number): void {
  const threads = (t.BM / t.TM) * (t.BN / t.TN);
  const loads = t.BM * t.BK + t.BK * t.BN;
  const bad =
    !Number.isInteger(t.BM / t.TM) ||
    !Number.isInteger(t.BN / t.TN) ||
    threads > maxInvocations ||
    loads % threads !== 0 ||
    (t.BM * t.BK) % threads !== 0 ||
    workgroupBytes(t) > maxWorkgroupBytes;
  if (bad) {
    throw new InvalidArgumentError(
      `webgpu gemm: tiling ${JSON.stringify(t)} does not fit this device (${threads} invocations of at most ${maxInvocations}, ${workgroupBytes(t)} bytes of workgroup memory of at most ${maxWorkgroupBytes}, loads must divide evenly)`,
    );
  }
}

// Tiles are stored k-major with rows padded by one element, so the loads along k hit distinct banks too.
const workgroupBytes = (t: GemmTiling) => t.BK * (t.BM + 1 + t.BN + 1) * 4;

/** The default tiling for a device's limits. */
export function defaultTiling(maxInvocations: number): GemmTiling {
  return maxInvocations >= 256 ? GEMM_TILING_64 : GEMM_TILING_SMALL;
}
