import { extname } from 'node:path';
import type { Tensor } from '@blastkit/core';
import { NpyError, openSafetensors, readNpy, SafetensorsError } from '@blastkit/safetensors';
import { UsageError } from '../errors.js';

/**
 * Reads a 2-D matrix named on the command line: `A.npy` (f32/f64, C order), `model.safetensors:<tensor>`,
 * or `file.safetensors` when the file holds exactly one 2-D tensor. Errors name the file and what is wrong.
 */
export async function readMatrixArgument(spec: string, what = 'input'): Promise<Tensor> {
  const { path, tensorName } = splitSpec(spec);
  let tensor: Tensor;
  try {
    if (extname(path).toLowerCase() === '.npy') {
      if (tensorName !== undefined)
        throw new UsageError(`--${what}: a .npy file holds one array; drop ':${tensorName}'`);
      tensor = await readNpy(path);
    } else {
      tensor = await readSafetensorsMatrix(path, tensorName, what);
    }
  } catch (err) {
    if (err instanceof NpyError || err instanceof SafetensorsError) throw new UsageError(err.message);
    if (isMissingFile(err)) throw new UsageError(`--${what}: ${path}: no such file`);
    throw err;
  }
  if (tensor.rank !== 2)
    throw new UsageError(
      `--${what}: ${spec} has shape [${tensor.shape.join(',')}]; a matrix (2-D) is needed`,
    );
  return tensor;
}

function splitSpec(spec: string): { path: string; tensorName?: string } {
  // the tensor name follows the last ':' after '.safetensors' (tensor names may not contain one; paths may)
  const at = spec.toLowerCase().lastIndexOf('.safetensors:');
  if (at >= 0) {
    const cut = at + '.safetensors'.length;
    return { path: spec.slice(0, cut), tensorName: spec.slice(cut + 1) };
  }
  return { path: spec };
}

async function readSafetensorsMatrix(
  path: string,
  tensorName: string | undefined,
  what: string,
): Promise<Tensor> {
  if (extname(path).toLowerCase() !== '.safetensors')
    throw new UsageError(`--${what}: ${path}: expected a .npy or .safetensors file`);
  const file = await openSafetensors(path);
  try {
    if (tensorName !== undefined) {
      if (!file.tensors.has(tensorName)) {
        const matrices = file.names().filter((n) => file.info(n).shape.length === 2);
        throw new UsageError(
          `--${what}: ${path} has no tensor '${tensorName}'; its 2-D tensors are: ${preview(matrices)}`,
        );
      }
      return await file.readTensor(tensorName);
    }
    const matrices = file.names().filter((n) => file.info(n).shape.length === 2);
    if (matrices.length !== 1)
      throw new UsageError(
        `--${what}: ${path} holds ${matrices.length} matrices; name one as ${path}:<tensor> (${preview(matrices)})`,
      );
    return await file.readTensor(matrices[0]);
  } finally {
    await file.close();
  }
}

function preview(names: string[]): string {
  if (names.length === 0) return '(none)';
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')}, … (${names.length} in all)`;
}

function isMissingFile(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'ENOENT';
}
