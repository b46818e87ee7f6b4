export {
  type AtomicWriteErrorFactory,
  type ByteSink,
  temporaryPath,
  writeFileAtomic,
} from './atomic-write.js';
export {
  DTYPE_SIZES,
  decodeToF32,
  int64ToF32,
  isSafetensorsDtype,
  type SafetensorsDtype,
  type WritableDtype,
} from './dtypes.js';
export { SafetensorsError, type SafetensorsErrorOptions } from './errors.js';
export { NpyError, readNpy, writeNpy } from './npy.js';
export {
  MAX_HEADER_BYTES,
  openSafetensors,
  type RawTensor,
  SafetensorsFile,
  type TensorInfo,
} from './reader.js';
export {
  assertOutputApart,
  checkOutputFile,
  createTemporaryFolder,
  discardFolder,
  normalizePath,
  OUTPUT_MARKER,
  type OutputFolderOptions,
  OutputSafetyError,
  type OutputState,
  outputFolderState,
  prepareOutputFolder,
  removeStaleTemporaries,
  removeStaleTemporariesIn,
  trackTemporary,
  untrackTemporary,
  writeOutputFolder,
} from './safe-output.js';
export { ShardedSafetensors } from './sharded.js';
export { type TensorEntry, writeSafetensors } from './writer.js';
