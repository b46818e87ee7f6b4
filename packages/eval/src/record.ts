/** The metrics this package computes, as they are named in records. */
export const EVAL_METRICS = [
  'perplexity',
  'comparison',
  'layer-output-error',
  'classification',
  'noise-prediction',
  'sample-agreement',
] as const;
export type EvalMetric = (typeof EVAL_METRICS)[number];

/** How much of the model a compression kept: whatever of these the caller knows. */
export interface EvalBudget {
  /** The requested fraction of each compressed linear's parameters (compression_config's ratio). */
  ratio?: number | null;
  /** Parameters of the model's compressible linears, as stored (structured where compressed). */
  parameters?: number;
  /** The same linears' parameters in the dense model. */
  denseParameters?: number;
}

/** What was evaluated, where: the fields every record carries besides its protocol and numbers. */
export interface EvalContext {
  /** The evaluated (candidate) model, e.g. a path or asset name with its format. */
  model: string;
  /** The model it is compared with, when there is one. */
  reference?: string | null;
  /** The compression method (null for a dense model). */
  method: string | null;
  budget: EvalBudget | null;
  /** The backend the forwards ran on ('cpu', 'webgpu', …). */
  backend: string;
}

/** One evaluation result as JSON: context, protocol (how the numbers were obtained), then the numbers. */
export interface EvalRecord<P = unknown, R = unknown> {
  metric: EvalMetric;
  model: string;
  reference: string | null;
  method: string | null;
  budget: EvalBudget | null;
  backend: string;
  protocol: P;
  result: R;
}

/**
 * A record of `result` (any of this package's results: its `protocol` field becomes the record's protocol, the
 * rest its result). The record survives JSON.stringify unchanged: non-finite numbers are refused, since JSON
 * would turn them into null silently.
 */
export function evalRecord<R extends { protocol: unknown }>(
  metric: EvalMetric,
  context: EvalContext,
  result: R,
): EvalRecord<R['protocol'], Omit<R, 'protocol'>> {
  if (!EVAL_METRICS.includes(metric)) throw new RangeError(`unknown metric '${metric}'`);
  for (const key of ['model', 'backend'] as const)
    if (typeof context[key] !== 'string' || context[key].length === 0)
      throw new RangeError(`an evaluation record needs context.${key} (got ${JSON.stringify(context[key])})`);
  const { protocol, ...rest } = result;
  const record = {
    metric,
    model: context.model,
    reference: context.reference ?? null,
    method: context.method,
    budget: context.budget,
    backend: context.backend,
    protocol,
    result: rest,
  };
  const bad = nonFinite(record, 'record');
  if (bad !== undefined) throw new RangeError(`${metric} record: ${bad} is not a finite number`);
  return record;
}

function nonFinite(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const bad = nonFinite(v, `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      const bad = nonFinite(v, `${path}.${k}`);
      if (bad) return bad;
    }
  return undefined;
}
