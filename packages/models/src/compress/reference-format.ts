import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StructuredMatrix, Tensor } from '@blastkit/core';
import { type TensorEntry, writeSafetensors } from '@blastkit/safetensors';
import {
  LLAMA_LINEAR_SUFFIXES,
  type LlamaConfig,
  llamaConfigToHf,
  llamaWeightShapes,
} from '../llama/config.js';
import { ModelFormatError, type TensorSource } from '../tensor-source.js';
import { type SaveFolderOptions, writeModelFolder } from './saved.js';

/**
 * Writes a BLAST-compressed Llama in the reference implementation's own checkpoint format (changwoolee/BLAST,
 * `models/modeling_blast.py`, method.md §7), so its `BlastModelForCausalLM.from_pretrained` loads it:
 * `model_type: "blast_llama"`, `target_modules`, `blast_rank` (one rank per projection name),
 * `blast_num_blocks: [b]`, `indices` (the compressed layers), `precompute_matrix: false`, and tensors
 * `model.layers.{i}.<proj>.{B,C,D}` in float16 (or float32). The format cannot say "this layer has another
 * rank": every compressed layer must use the same rank per projection and one block count, or this throws.
 * The folder is written as `saveCompressedFolder` writes one (whole, marked, never over a foreign folder).
 */
export async function saveReferenceBlastLlama(
  dir: string,
  config: LlamaConfig,
  source: TensorSource,
  replacements: ReadonlyMap<string, StructuredMatrix>,
  options: { dtype?: 'F16' | 'F32' } & SaveFolderOptions = {},
): Promise<void> {
  const dtype = options.dtype ?? 'F16';
  const ranks: Record<string, number> = {};
  const layers = new Set<number>();
  let blocks: number | undefined;
  for (const [module, matrix] of replacements) {
    const match = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)$/.exec(module);
    if (!match || matrix.kind !== 'blast')
      throw new ModelFormatError(
        dir,
        `the reference format holds only BLAST decoder projections, not '${module}' (${matrix.kind})`,
      );
    const proj = match[3];
    const { B } = matrix.toNamedTensors();
    const [b, , r] = B.shape;
    if (blocks !== undefined && b !== blocks)
      throw new ModelFormatError(
        dir,
        `'${module}' has ${b} blocks but others have ${blocks}: the reference format has one block count`,
      );
    blocks = b;
    if (ranks[proj] !== undefined && ranks[proj] !== r)
      throw new ModelFormatError(
        dir,
        `'${module}' has rank ${r} but other ${proj} layers have ${ranks[proj]}: the reference format has one rank per projection`,
      );
    ranks[proj] = r;
    layers.add(Number(match[1]));
  }
  const targets = LLAMA_LINEAR_SUFFIXES.map((s) => s.split('.')[1]).filter((p) => ranks[p] !== undefined);
  // the reference replaces every target projection in every listed layer: all of them must be compressed
  for (const layer of layers)
    for (const suffix of LLAMA_LINEAR_SUFFIXES) {
      const proj = suffix.split('.')[1];
      if (targets.includes(proj) && !replacements.has(`model.layers.${layer}.${suffix}`))
        throw new ModelFormatError(
          dir,
          `layer ${layer} leaves ${suffix} dense, which the reference format cannot express`,
        );
    }
  const tensors: Record<string, TensorEntry> = {};
  const put = (name: string, t: Tensor) => {
    tensors[name] = dtype === 'F32' ? t : { dtype, tensor: t };
  };
  for (const [name, shape] of llamaWeightShapes(config)) {
    const module = name.slice(0, -'.weight'.length);
    const matrix = replacements.get(module);
    // kept weights are read when the writer reaches them: one dense tensor in memory at a time
    if (matrix === undefined) tensors[name] = { dtype, shape, load: () => source.readTensor(name) };
    else for (const [part, t] of Object.entries(matrix.toNamedTensors())) put(`${module}.${part}`, t);
  }
  const hf = llamaConfigToHf(config);
  const json = {
    ...hf,
    architectures: ['BlastModelForCausalLM'],
    model_type: 'blast_llama',
    torch_dtype: dtype === 'F16' ? 'float16' : 'float32',
    target_modules: targets,
    blast_rank: ranks,
    blast_num_blocks: [blocks ?? 1],
    indices: [...layers].sort((a, b) => a - b),
    precompute_matrix: false,
  };
  await writeModelFolder(dir, options, async (temp) => {
    await writeSafetensors(join(temp, 'model.safetensors'), tensors, { format: 'pt' });
    await writeFile(join(temp, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
  });
}
