import {
  type StructuredMatrix,
  type StructureKind,
  structuredFromNamedTensors,
  type Tensor,
} from '@blastkit/core';
import { throwIfAborted } from '../validate.js';

/** One finished matrix as a checkpoint holds it: the structure, its named tensors and a few numbers. */
export interface CheckpointEntry {
  kind: StructureKind;
  tensors: Record<string, Tensor>;
  /** Tensors that belong with the matrix but are not part of its structure (e.g. ROM's output bias). */
  extras?: Record<string, Tensor>;
  info: { relativeError: number; seconds: number; seed: number };
}

/** Where finished matrices go, so an interrupted run resumes where it stopped. Saves must be atomic. */
export interface CheckpointStore {
  has(name: string): Promise<boolean>;
  load(name: string): Promise<CheckpointEntry>;
  save(name: string, entry: CheckpointEntry): Promise<void>;
}

/** A store in memory: for tests and for runs that need no resume. */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly entries = new Map<string, CheckpointEntry>();
  async has(name: string) {
    return this.entries.has(name);
  }
  async load(name: string) {
    const e = this.entries.get(name);
    if (!e) throw new Error(`checkpoint: no entry '${name}'`);
    return e;
  }
  async save(name: string, entry: CheckpointEntry) {
    this.entries.set(name, entry);
  }
}

export interface ManyTarget {
  name: string;
  /** Loads the dense matrix only when it has to be factorized (streaming: one matrix in memory at a time). */
  load: () => Promise<Tensor>;
}

export interface SolvedMatrix {
  matrix: StructuredMatrix;
  relativeError: number;
  /** Saved and restored with the matrix (see CheckpointEntry.extras). */
  extras?: Record<string, Tensor>;
}

export interface FactorizeManyOptions {
  store: CheckpointStore;
  /** Base seed; matrix i uses seed + i, so a resumed run draws exactly what an uninterrupted one does. */
  seed?: number;
  signal?: AbortSignal;
  /** Filled with each matrix's extras, whether solved now or taken from the checkpoint. */
  extras?: Map<string, Record<string, Tensor>>;
  /** Called after each matrix, whether solved now or taken from the checkpoint. */
  onMatrix?: (event: {
    name: string;
    index: number;
    total: number;
    resumed: boolean;
    relativeError: number;
    seconds: number;
  }) => void;
}

/**
 * Factorizes many matrices one at a time with a checkpoint per matrix: matrices already in the store are
 * skipped, each new result is saved as soon as it exists, and an AbortSignal stops the run between (and,
 * through `solve`, inside) matrices. Returns every matrix's structured form in input order.
 */
export async function factorizeMany(
  targets: readonly ManyTarget[],
  solve: (A: Tensor, context: { name: string; seed: number; signal?: AbortSignal }) => Promise<SolvedMatrix>,
  options: FactorizeManyOptions,
): Promise<Map<string, StructuredMatrix>> {
  const names = new Set<string>();
  for (const t of targets) {
    if (names.has(t.name)) throw new Error(`factorizeMany: matrix name '${t.name}' appears twice`);
    names.add(t.name);
  }
  const out = new Map<string, StructuredMatrix>();
  const base = options.seed ?? 0;
  for (const [index, target] of targets.entries()) {
    throwIfAborted(options.signal);
    const seed = base + index;
    if (await options.store.has(target.name)) {
      const entry = await options.store.load(target.name);
      out.set(target.name, structuredFromNamedTensors(entry.kind, entry.tensors));
      if (entry.extras) options.extras?.set(target.name, entry.extras);
      options.onMatrix?.({
        name: target.name,
        index,
        total: targets.length,
        resumed: true,
        relativeError: entry.info.relativeError,
        seconds: 0,
      });
      continue;
    }
    const start = performance.now();
    const A = await target.load();
    const solved = await solve(A, { name: target.name, seed, signal: options.signal });
    const seconds = (performance.now() - start) / 1000;
    await options.store.save(target.name, {
      kind: solved.matrix.kind,
      tensors: solved.matrix.toNamedTensors(),
      ...(solved.extras ? { extras: solved.extras } : {}),
      info: { relativeError: solved.relativeError, seconds, seed },
    });
    out.set(target.name, solved.matrix);
    if (solved.extras) options.extras?.set(target.name, solved.extras);
    options.onMatrix?.({
      name: target.name,
      index,
      total: targets.length,
      resumed: false,
      relativeError: solved.relativeError,
      seconds,
    });
  }
  return out;
}
