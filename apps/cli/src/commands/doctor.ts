import { BACKENDS, type BackendDescription, formatBackendDescription } from '@blastkit/core';
import { openCliBackend } from '../backends.js';

/** One TensorFlow.js engine as @blastkit/backend-tfjs reports it (the package is optional: typed here). */
export interface DoctorTfjsEngine {
  name: string;
  status: 'picked' | 'available' | 'unavailable' | 'not-probed';
  detail: string;
}

export interface DoctorResult {
  node: string;
  platform: string;
  backends: { name: string; available: boolean; detail: string; description?: BackendDescription }[];
  /** What `--backend auto` (every command's default) picks here, and why each backend before it was passed over. */
  auto: { picked: string; passedOver: { name: string; reason: string }[] };
  /** Every engine of the tfjs backend, when @blastkit/backend-tfjs loads: which runs, which would, why not. */
  tfjsEngines?: DoctorTfjsEngine[];
}

interface TfjsModule {
  tfjsEngineReport(options: { probeAll: boolean }): Promise<{ engines: DoctorTfjsEngine[] }>;
}

/** `blastkit doctor`: which compute backends load here, and for each that does not, why. */
export async function runDoctor(): Promise<DoctorResult> {
  const found = new Map<string, DoctorResult['backends'][number]>();
  let tfjsEngines: DoctorTfjsEngine[] | undefined;
  // tfjs first: TensorFlow's library (tfjs-node) crashes the process when loaded after Mesa's LLVM, which the
  // WebGPU backend's software adapter brings in; the other order is fine. Listed in the usual order below.
  const names = BACKENDS.map((b) => b.name);
  for (const name of ['tfjs', ...names.filter((n) => n !== 'tfjs')]) {
    try {
      const { backend: be, description } = await openCliBackend(name);
      const engine = (be as { engine?: unknown }).engine;
      found.set(name, {
        name,
        available: true,
        detail: `loaded (backend '${be.name}'${typeof engine === 'string' ? `, engine ${engine}` : ''})`,
        description,
      });
      await be.close?.();
    } catch (err) {
      found.set(name, { name, available: false, detail: err instanceof Error ? err.message : String(err) });
    }
    if (name === 'tfjs' && found.get(name)?.available) {
      // every engine, not only the picked one: loads tfjs-node if it is staged, opens a WebGPU device if there
      // is an adapter — what a diagnostic is for
      const spec = '@blastkit/backend-tfjs';
      const tfjs = (await import(spec)) as TfjsModule;
      const report = await tfjs.tfjsEngineReport({ probeAll: true });
      tfjsEngines = report.engines.map(({ name, status, detail }) => ({ name, status, detail }));
    }
  }
  const backends = names.map((name) => found.get(name)!);
  const auto = await openCliBackend('auto');
  await auto.backend.close?.();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backends,
    auto: { picked: auto.description.name, passedOver: auto.passedOver },
    tfjsEngines,
  };
}

const MARK = { picked: '▶', available: '✓', unavailable: '✗', 'not-probed': '·' } as const;

export function formatDoctor(r: DoctorResult): string {
  const lines = [`node ${r.node} on ${r.platform}`];
  for (const b of r.backends) {
    lines.push(`${b.available ? '✓' : '✗'} ${b.name.padEnd(7)} ${b.detail}`);
    if (b.description) lines.push(`    ${formatBackendDescription(b.description)}`);
    if (b.name === 'tfjs' && r.tfjsEngines) {
      lines.push(...r.tfjsEngines.map((e) => `    ${MARK[e.status]} ${e.name.padEnd(13)} ${e.detail}`));
    }
  }
  const over = r.auto.passedOver.map((p) => `; ${p.name} passed over: ${p.reason}`).join('');
  lines.push(`--backend auto (the default) picks ${r.auto.picked}${over}`);
  return lines.join('\n');
}
