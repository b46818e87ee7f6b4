import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
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

// beside the package's dist/test/ (or src/test/); BLASTKIT_CORE_FIXTURES names another folder, for a bundle of
// the suite that runs where the package is not installed (tools/gpu-bundle)
const fixtureDir = () =>
  process.env.BLASTKIT_CORE_FIXTURES
    ? pathToFileURL(`${process.env.BLASTKIT_CORE_FIXTURES.replace(/\/$/, '')}/`)
    : new URL('../../fixtures/', import.meta.url);

function toTensors(raw: Record<string, RawTensor> | undefined): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(raw ?? {}))
    out[name] = new Tensor(t.shape, Float32Array.from(t.data));
  return out;
}

/** Loads the golden cases of one operation (Node only: the fixtures ship inside this package). */
export function loadGolden(op: string): GoldenFile {
  const raw = JSON.parse(readFileSync(new URL(`${op}.json`, fixtureDir()), 'utf8'));
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
