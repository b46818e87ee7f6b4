import { readFileSync } from 'node:fs';
import { Tensor } from '../tensor/tensor.js';

/** One golden case: inputs, attributes and expected outputs, written by tools/fixtures/gen_core_fixtures.py. */
export interface GoldenCase {
  name: string;
  inputs: Record<string, Tensor>;
  attrs: Record<string, unknown>;
  outputs: Record<string, Tensor>;
}

export interface GoldenFile {
  op: string;
  generator: string;
  cases: GoldenCase[];
}

interface RawTensor {
  shape: number[];
  data: number[];
}

const FIXTURE_DIR = new URL('../../fixtures/', import.meta.url);

function toTensors(raw: Record<string, RawTensor> | undefined): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(raw ?? {}))
    out[name] = new Tensor(t.shape, Float32Array.from(t.data));
  return out;
}

/** Loads the golden cases of one operation (Node only: the fixtures ship inside this package). */
export function loadGolden(op: string): GoldenFile {
  const raw = JSON.parse(readFileSync(new URL(`${op}.json`, FIXTURE_DIR), 'utf8'));
  return {
    op: raw.op,
    generator: raw.generator,
    cases: raw.cases.map(
      (c: {
        name: string;
        inputs: Record<string, RawTensor>;
        attrs?: Record<string, unknown>;
        outputs: Record<string, RawTensor>;
      }) => ({
        name: c.name,
        inputs: toTensors(c.inputs),
        attrs: c.attrs ?? {},
        outputs: toTensors(c.outputs),
      }),
    ),
  };
}
