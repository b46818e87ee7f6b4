/**
 * @blastkit/queue — compress across machines: one BullMQ job per matrix on a Redis-backed queue, any number
 * of workers, results in a shared, content-hashed checkpoint store that the ordinary pipeline resumes from.
 */
export { connectOrFail, QueueConnectionError } from './connection.js';
export {
  fillCheckpointsThroughQueue,
  type QueueProgress,
  QueueRunError,
  type QueueRunOptions,
  type QueueRunResult,
} from './coordinator.js';
export {
  JOB_VERSION,
  jobIdFor,
  type MatrixJob,
  type MatrixJobResult,
  QUEUE_NAME,
  runTag,
} from './job.js';
export {
  CALIBRATION_FOLDER,
  entryDigest,
  fileDigest,
  readCalibration,
  removeEntry,
  storedDigest,
  writeCalibration,
} from './store.js';
export { parseQueueUrl, type QueueTarget, QueueUrlError, redactUrl } from './url.js';
export {
  createProcessor,
  DEFAULT_PROCESSOR,
  runMatrixJob,
  startWorker,
  type WorkerEnvironment,
  type WorkerEvent,
  type WorkerOptions,
} from './worker.js';
