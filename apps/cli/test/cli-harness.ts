// What the CLI tests share: where the built command and the models package's fixtures are, and a way to run
// the command in-process with its output captured.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../src/program.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The built `blastkit` executable, for tests that check exit codes in a child process. */
export const cliBin = join(here, '..', 'dist', 'bin.js');

/** @blastkit/models' golden fixtures (tiny Llama, GPT-2, ViT, DiT made by transformers/timm). */
export const modelFixtures = join(here, '..', '..', '..', 'packages', 'models', 'fixtures');

/** Runs `blastkit …args` in this process; resolves to what it printed on stdout and stderr. */
export async function runCli(args: string[]): Promise<{ out: string; err: string }> {
  let out = '';
  let err = '';
  const program = buildProgram({ out: (s) => (out += s), err: (s) => (err += s) });
  program.configureOutput({ writeErr: (s) => (err += s), writeOut: (s) => (out += s) });
  await program.parseAsync(['node', 'blastkit', ...args]);
  return { out, err };
}

/** Max |a−b| over max |b|: the relative error the ONNX logits checks use (as @blastkit/onnx's tests). */
export function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`relError: ${a.length} values against ${b.length}`);
  let d = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}
