/**
 * @blastkit/factorize/node — the parts of the factorizer that need Node's file system: a checkpoint store on
 * disk. Kept out of the main entry so that entry stays usable in a browser.
 */
export {
  CheckpointMismatchError,
  DirectoryCheckpointStore,
  fingerprintDifference,
  RUN_FILE,
  type RunFingerprint,
  SOLVER_VERSION,
} from './directory-store.js';
