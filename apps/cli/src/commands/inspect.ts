import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { isAssetName } from '@blastkit/assets';
import { InvalidArgumentError } from '@blastkit/core';
import { type AllocationPlan, formatPlan } from '@blastkit/factorize';
import { architectureNamed, type CompressMethod, ModelFormatError, planCompression } from '@blastkit/models';
import { NpyError, openSafetensors, readNpy, SafetensorsError } from '@blastkit/safetensors';
import { UsageError } from '../errors.js';
import { describeConfig, linearCandidates, linearWeights, selectLinears } from '../io/architecture.js';
import { type Architecture, openModel } from '../io/model-input.js';
import type { SelectionOptions } from '../io/selection.js';

export interface InspectedTensor {
  name: string;
  dtype: string;
  shape: number[];
  parameters: number;
}

export interface DryRunOptions extends SelectionOptions {
  method: CompressMethod;
  ratio: number;
  blocks?: number;
  allocate?: boolean;
}

export interface InspectResult {
  path: string;
  kind: 'safetensors' | 'npy' | 'model';
  tensors: InspectedTensor[];
  parameters: number;
  metadata?: Record<string, string>;
  /** For models: the architecture and the linears' sizes. */
  model?: {
    description: string;
    architecture: Architecture;
    config: Record<string, unknown>;
    /** One line on the architecture's sizes. */
    summary: string;
    /** The block linears compression targets (see `compress`), as stored: structured where compressed. */
    linears: number;
    linearParameters: number;
    /** FLOPs per token (patch, for ViT and DiT) of those linears (2 per multiply-add), as stored. */
    linearFlopsPerToken: number;
    compression?: unknown;
  };
  /** With a dry run: the compression plan per module (parameters and FLOPs before and after). */
  plan?: AllocationPlan;
}

/** `blastkit inspect`: what a weights file or model holds — tensors, shapes, dtypes, parameter counts. */
export async function runInspect(path: string, dryRun?: DryRunOptions): Promise<InspectResult> {
  try {
    if (!isAssetName(path) && !existsSync(path)) throw new UsageError(`${path}: no such file or folder`);
    const ext = extname(path).toLowerCase();
    // a .safetensors file is listed as it is, unless a plan is asked for: then it is a model (config beside it)
    const isModel =
      isAssetName(path) ||
      statSync(path).isDirectory() ||
      ext === '.bin' ||
      (dryRun !== undefined && ext === '.safetensors');
    if (dryRun && !isModel)
      throw new UsageError('--dry-run needs a model (a model folder, a llama2.c .bin or an asset)');
    if (!isModel && ext === '.safetensors') {
      const file = await openSafetensors(path);
      const tensors = file.names().map((name) => {
        const info = file.info(name);
        return { name, dtype: info.dtype, shape: [...info.shape], parameters: count(info.shape) };
      });
      await file.close();
      return { path, kind: 'safetensors', tensors, parameters: sum(tensors), metadata: file.metadata };
    }
    if (!isModel && ext === '.npy') {
      const t = await readNpy(path);
      const tensors = [{ name: '(array)', dtype: 'F32', shape: [...t.shape], parameters: t.size }];
      return { path, kind: 'npy', tensors, parameters: t.size };
    }
    const opened = await openModel(path);
    try {
      const tensors = opened.source.names().map((name) => {
        const shape = [...opened.source.shapeOf(name)];
        return { name, dtype: 'F32', shape, parameters: count(shape) };
      });
      // a compressed folder stores each replaced module as its factors (and ROM's bias): list those too
      for (const [module, matrix] of opened.replacements)
        for (const [part, t] of Object.entries(matrix.toNamedTensors()))
          tensors.push({ name: `${module}.${part}`, dtype: 'F32', shape: [...t.shape], parameters: t.size });
      for (const [module, bias] of opened.biases)
        tensors.push({ name: `${module}.bias`, dtype: 'F32', shape: [...bias.shape], parameters: bias.size });
      const candidates = linearCandidates(opened);
      let linearParameters = 0;
      let linearFlops = 0;
      for (const module of candidates) {
        const structure = opened.replacements.get(module);
        const parameters = structure
          ? structure.parameterCount
          : count(opened.source.shapeOf(`${module}.weight`));
        linearParameters += parameters;
        linearFlops += structure ? structure.flops(1) : 2 * parameters;
      }
      for (const b of opened.biases.values()) linearParameters += b.size;
      let plan: AllocationPlan | undefined;
      if (dryRun) {
        if (opened.replacements.size > 0) throw new UsageError(`${opened.description} is already compressed`);
        plan = await planCompression(linearWeights(opened), selectLinears(opened, dryRun), dryRun);
      }
      return {
        ...(plan ? { plan } : {}),
        path,
        kind: 'model',
        tensors,
        parameters: sum(tensors),
        model: {
          description: opened.description,
          architecture: opened.architecture,
          config: { ...(opened.config as Record<string, unknown>) },
          summary: describeConfig(opened),
          linears: candidates.length,
          linearParameters,
          linearFlopsPerToken: linearFlops,
          ...(opened.compression ? { compression: opened.compression } : {}),
        },
      };
    } finally {
      await opened.source.close();
    }
  } catch (err) {
    if (
      err instanceof SafetensorsError ||
      err instanceof NpyError ||
      err instanceof ModelFormatError ||
      err instanceof InvalidArgumentError
    )
      throw new UsageError(err.message);
    throw err;
  }
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
function sum(tensors: InspectedTensor[]): number {
  return tensors.reduce((a, t) => a + t.parameters, 0);
}

export function formatInspect(r: InspectResult): string {
  if (r.plan)
    return `${r.model?.description}: ${r.plan.method} plan at ratio ${r.plan.ratio}, ${r.plan.numBlocks} blocks (dry run)\n${formatPlan(r.plan)}`;
  const width = Math.min(60, Math.max(4, ...r.tensors.map((t) => t.name.length)));
  const lines = [
    `${r.path} (${r.model?.description ?? r.kind}): ${r.tensors.length} tensors, ${r.parameters} parameters`,
  ];
  if (r.model) {
    // decoders run tokens; the image and latent models run patches
    const unit = architectureNamed(r.model.architecture)?.task === 'causal-lm' ? 'token' : 'patch';
    lines.push(
      r.model.summary,
      `block linears (${r.model.linears}): ${r.model.linearParameters} parameters, ${r.model.linearFlopsPerToken} FLOPs per ${unit}`,
    );
    if (r.model.compression)
      lines.push(`compression_config: ${JSON.stringify(r.model.compression).slice(0, 300)}`);
  }
  if (r.metadata && Object.keys(r.metadata).length > 0) lines.push(`metadata: ${JSON.stringify(r.metadata)}`);
  lines.push('');
  for (const t of r.tensors)
    lines.push(`${t.name.padEnd(width)}  ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]  ${t.parameters}`);
  return lines.join('\n');
}
