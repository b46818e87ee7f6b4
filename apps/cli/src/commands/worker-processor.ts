// The sandboxed processor of `blastkit worker`: BullMQ forks a child process per concurrency slot and loads
// this file there. Models open as every other command opens them (asset names, any registered architecture,
// weights read as the linear [out, in], GPT-2's Conv1D transposed) and backends as `--backend` names them,
// so a worker factorizes exactly what `blastkit compress` would on this machine.
import { createProcessor } from '@blastkit/queue';
import { openCliBackend } from '../backends.js';
import { linearWeights } from '../io/architecture.js';
import { openModel } from '../io/model-input.js';
import { WORKER_BACKEND_ENV } from './worker.js';

// the worker that forked this child is gone (killed): its job's lock expires and another worker redoes it,
// so this child has nothing left to finish
process.on('disconnect', () => process.exit(1));

export default createProcessor({
  openWeights: async (model) => linearWeights(await openModel(model)),
  openBackend: async (name) => (await openCliBackend(process.env[WORKER_BACKEND_ENV] || name)).backend,
});
