import { IdxFormatError } from '@blastkit/assets';
import { InvalidArgumentError } from '@blastkit/core';
import { ModelFormatError } from '@blastkit/models';
import { NpyError, SafetensorsError } from '@blastkit/safetensors';
import { UsageError } from '../errors.js';

/**
 * The error classes that mean "what you gave is wrong", which the command exits 2 for (like a UsageError): a
 * malformed input file — weights, config.json and its compression_config, tokenizers (ModelFormatError and its
 * TokenizerFormatError), .npy, safetensors and shard indexes, IDX data; each names its file — or a value out of
 * range (core's InvalidArgumentError, e.g. a prompt longer than the context).
 */
export const INPUT_ERRORS = [
  UsageError,
  ModelFormatError,
  SafetensorsError,
  NpyError,
  IdxFormatError,
  InvalidArgumentError,
] as const;

/** True for an error of the user's input (exit 2), false for anything else (a bug, an I/O failure: exit 1). */
export function isInputError(err: unknown): boolean {
  return INPUT_ERRORS.some((type) => err instanceof type);
}
