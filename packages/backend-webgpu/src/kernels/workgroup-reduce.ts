/** Threads per row in the row-wise kernels (softmax, norms, reductions): one workgroup per row. */
export const ROW_THREADS = 64;

/**
 * WGSL tree reductions over the workgroup, for kernels that give each row (or reduced slice) one workgroup.
 * Call only from uniform control flow: they hold barriers. The result is broadcast through workgroupUniformLoad,
 * not a plain read of red[0] after a barrier: on Dawn's OpenGL ES backend over llvmpipe the plain read gave 0
 * to some invocations (layerNorm at width 12 went wrong for lanes 8–11).
 */
export const WORKGROUP_REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, ${ROW_THREADS}>;
var<workgroup> redOut: f32;
fn wgSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { redOut = red[0]; }
  return workgroupUniformLoad(&redOut);
}
fn wgMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { redOut = red[0]; }
  return workgroupUniformLoad(&redOut);
}
fn wgMin(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${ROW_THREADS / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = min(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { redOut = red[0]; }
  return workgroupUniformLoad(&redOut);
}
`;

/** Rows of the last axis: count and width. */
export function rowsOf(shape: readonly number[], what: string): { rows: number; width: number } {
  if (shape.length === 0) throw new Error(`${what}: expected at least one axis, got a scalar`);
  const width = shape[shape.length - 1];
  const size = shape.reduce((a, b) => a * b, 1);
  return { rows: width === 0 ? 0 : size / width, width };
}
