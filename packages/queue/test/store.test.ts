import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBackend, Tensor } from '@blastkit/core';
import { DirectoryCheckpointStore } from '@blastkit/factorize/node';
import { compressLinears, SafetensorsSource } from '@blastkit/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_VERSION, jobIdFor, type MatrixJob, runTag } from '../src/job.js';
import { entryDigest, readCalibration, writeCalibration } from '../src/store.js';
import { runMatrixJob, type WorkerEnvironment } from '../src/worker.js';

const model = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'fixtures', 'tiny-llama');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blastkit-queue-store-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env: WorkerEnvironment = {
  openWeights: (path) => SafetensorsSource.openFolder(path),
  openBackend: async (name) => (await openBackend(name, (pkg) => import(pkg))).backend,
};

/** A safetensors file's header (JSON) and data bytes. */
async function parts(path: string): Promise<{ header: Record<string, unknown>; data: Buffer }> {
  const bytes = await readFile(path);
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), data: bytes.subarray(8 + n) };
}

describe('job ids', () => {
  it('one id per run, store and module: the same again after a restart, another for any other run', () => {
    const f = { method: 'blast', seed: 1, modules: ['a.q_proj'] };
    const tag = runTag(f, '/shared/out.checkpoints');
    expect(runTag({ ...f }, '/shared/out.checkpoints')).toBe(tag);
    expect(runTag({ ...f, seed: 2 }, '/shared/out.checkpoints')).not.toBe(tag);
    expect(runTag(f, '/shared/other.checkpoints')).not.toBe(tag);
    const id = jobIdFor(tag, 'model.layers.0:x.q_proj');
    // BullMQ refuses ':' in custom ids
    expect(id).not.toContain(':');
    expect(id).not.toBe(jobIdFor(tag, 'model.layers.1:x.q_proj'));
  });
});

describe('entryDigest', () => {
  const entry = () => ({
    kind: 'low-rank' as const,
    tensors: { U: new Tensor([2, 1], [1, 2]), V: new Tensor([1, 2], [3, 4]) },
    info: { relativeError: 0.25, seconds: 1.5, seed: 3 },
  });
  it('leaves out the time a job took, and sees any change of the factors', () => {
    const d = entryDigest(entry());
    expect(entryDigest({ ...entry(), info: { ...entry().info, seconds: 99 } })).toBe(d);
    const flipped = entry();
    flipped.tensors.V.data[1] = 4.000001;
    expect(entryDigest(flipped)).not.toBe(d);
    expect(entryDigest({ ...entry(), kind: 'blast' })).not.toBe(d);
    expect(entryDigest({ ...entry(), extras: { bias: new Tensor([1], [0]) } })).not.toBe(d);
  });
});

describe('calibration files', () => {
  it('round-trip with their hash, and a changed file is refused', async () => {
    const inputs = new Tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    const ref = await writeCalibration(dir, 'model.layers.0.mlp.up_proj', inputs);
    expect(await writeCalibration(dir, 'model.layers.0.mlp.up_proj', inputs)).toEqual(ref);
    expect([...(await readCalibration(dir, ref)).data]).toEqual([1, 2, 3, 4, 5, 6]);
    const path = join(dir, ref.file);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] ^= 1;
    await writeFile(path, bytes);
    await expect(readCalibration(dir, ref)).rejects.toThrow(/content hash .*, expected/);
  });
});

describe('runMatrixJob', () => {
  it('writes the entry a single-machine run writes (all but the time it took), and a second run keeps it', async () => {
    const backend = await env.openBackend('cpu');
    const source = await SafetensorsSource.openFolder(model);
    const modules = source
      .names()
      .filter((n) => n.endsWith('_proj.weight'))
      .map((n) => n.slice(0, -'.weight'.length));
    const fingerprint = { weights: 'tiny-llama', seed: 5, backend: backend.describe(), modules };
    const settings = { method: 'blast' as const, ratio: 0.6, blocks: 2, steps: 30, seed: 5 };
    const local = join(dir, 'local.checkpoints');
    await compressLinears(source, modules, {
      ...settings,
      backend,
      store: await DirectoryCheckpointStore.open(local, { fingerprint }),
    });
    const shared = join(dir, 'shared.checkpoints');
    await DirectoryCheckpointStore.open(shared, { fingerprint });
    const index = 4;
    const module = modules[index];
    const job: MatrixJob = {
      version: JOB_VERSION,
      store: shared,
      fingerprint,
      model,
      module,
      shape: source.shapeOf(`${module}.weight`) as [number, number],
      index,
      total: modules.length,
      backend: 'cpu',
      ...settings,
    };
    const first = await runMatrixJob(job, env);
    expect(first.reused).toBe(false);
    const file = `${encodeURIComponent(module)}.safetensors`;
    const a = await parts(join(local, file));
    const b = await parts(join(shared, file));
    expect(b.data.equals(a.data)).toBe(true);
    const withoutTime = (h: Record<string, unknown>) => {
      const meta = { ...(h.__metadata__ as Record<string, string>) };
      delete meta.seconds;
      return { ...h, __metadata__: meta };
    };
    expect(withoutTime(b.header)).toEqual(withoutTime(a.header));
    expect((b.header.__metadata__ as Record<string, string>).seed).toBe(String(5 + index));
    const bytes = await readFile(join(shared, file));
    const again = await runMatrixJob(job, env);
    expect(again).toMatchObject({ reused: true, digest: first.digest });
    expect((await readFile(join(shared, file))).equals(bytes)).toBe(true);
    // another run's store is refused, by the setting that differs
    await expect(runMatrixJob({ ...job, fingerprint: { ...fingerprint, seed: 6 } }, env)).rejects.toThrow(
      /seed: checkpoints 5, this run 6/,
    );
    // a worker that reads a weight with another shape than the coordinator did (GPT-2's Conv1D weights are
    // stored transposed) is refused
    const [m0, n0] = source.shapeOf(`${modules[0]}.weight`);
    await expect(
      runMatrixJob({ ...job, module: modules[0], index: 0, shape: [n0 + 1, m0] }, env),
    ).rejects.toThrow(/gives this worker a weight of shape \[\d+, \d+\], the coordinator read/);
    // a worker whose backend is not the coordinator's would round differently: refused before any work
    const native = { ...fingerprint, backend: { ...backend.describe(), name: 'native' } };
    const other = join(dir, 'other.checkpoints');
    await DirectoryCheckpointStore.open(other, { fingerprint: native });
    await expect(runMatrixJob({ ...job, store: other, fingerprint: native }, env)).rejects.toThrow(
      /needs the coordinator's backend .*native.*, this worker has .*cpu/,
    );
    await source.close();
  });
});
