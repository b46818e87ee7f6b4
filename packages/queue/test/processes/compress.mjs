// A compress run as the CLI does it, on the library: calibration inputs, a fingerprinted checkpoint store, the
// queued half (with --queue URL) and then the ordinary pipeline that resumes every matrix from the store and
// writes the folder. Prints one JSON line per progress event and a last one with the summary.
// node compress.mjs MODEL OUT SEED STEPS [QUEUE_URL]
import { rm } from 'node:fs/promises';
import { openBackend } from '@blastkit/core';
import { DirectoryCheckpointStore } from '@blastkit/factorize/node';
import {
  collectLinearInputs,
  compressLinears,
  LlamaModel,
  openHfLlama,
  saveCompressedLlama,
} from '@blastkit/models';
import { fillCheckpointsThroughQueue } from '../../dist/index.js';

const [model, out, seedText, stepsText, url] = process.argv.slice(2);
const seed = Number(seedText);
const steps = Number(stepsText);
const method = 'blast-data';
const ratio = 0.5;
// the tiny model's 16×32 matrices cannot hold 16 blocks at half their size
const blocks = 2;
const { config, source } = await openHfLlama(model);
const backend = (await openBackend('cpu', (pkg) => import(pkg))).backend;
const modules = source
  .names()
  .filter((n) => n.endsWith('_proj.weight'))
  .map((n) => n.slice(0, -'.weight'.length));
// seeded token ids (a small LCG): the calibration is the same in every run with this seed
let state = seed + 1;
const next = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state % config.vocabSize;
};
const sequences = Array.from({ length: 4 }, () => [1, ...Array.from({ length: 15 }, next)]);
const lm = await LlamaModel.load(source, config, { backend });
const calibration = await collectLinearInputs(lm, sequences, modules);
lm.dispose();
const fingerprint = {
  weights: model,
  method,
  ratio,
  blocks,
  seed,
  steps,
  backend: backend.describe(),
  modules,
};
const storeDir = `${out}.checkpoints`;
const store = await DirectoryCheckpointStore.open(storeDir, { fingerprint });
const log = (e) => process.stdout.write(`${JSON.stringify(e)}\n`);
let queued;
if (url)
  queued = await fillCheckpointsThroughQueue({
    url,
    store: storeDir,
    fingerprint,
    model,
    weights: source,
    modules,
    method,
    ratio,
    blocks,
    steps,
    seed,
    backend: 'cpu',
    calibration,
    pollMs: 100,
    onProgress: (e) => log({ event: 'progress', ...e }),
  });
const result = await compressLinears(source, modules, {
  method,
  ratio,
  blocks,
  steps,
  seed,
  backend,
  store,
  calibration,
});
await saveCompressedLlama(out, config, source, result.replacements, { method, seed }, result.biases);
await rm(storeDir, { recursive: true, force: true });
await source.close();
log({
  event: 'finished',
  modules: modules.length,
  resumed: result.modules.filter((m) => m.resumed).length,
  ...(queued ? { queued } : {}),
});
