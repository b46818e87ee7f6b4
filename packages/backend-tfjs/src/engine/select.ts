import * as tf from '@tensorflow/tfjs-core';
import {
  ENGINE_ENV,
  parseEnginePreference,
  TFJS_BACKEND_NAME,
  TFJS_ENGINE_NAMES,
  type TfjsEngineName,
} from './engine-names.js';
import { probeNative } from './native.js';
import { withTfjsWarningsOff } from './quiet.js';
import { probeWebGpu } from './webgpu.js';

/** The engine that runs, with the tfjs-core module to use with it (the engine is set on it, process-wide). */
export interface TfjsEngine {
  name: TfjsEngineName;
  tf: typeof tf;
  /** One line: what runs, e.g. 'TensorFlow 2.21.0 C API through @tensorflow/tfjs-node 4.22.0 (…) on the CPU'. */
  detail: string;
}

export interface TfjsEngineStatus {
  name: TfjsEngineName;
  /** picked: the engine in use; available: works here but another was preferred; unavailable: see detail; not-probed: not tried. */
  status: 'picked' | 'available' | 'unavailable' | 'not-probed';
  detail: string;
}

export interface TfjsEngineReport {
  picked: TfjsEngineName;
  engines: TfjsEngineStatus[];
}

type Probe = { ok: true; detail: string } | { ok: false; reason: string };

// tfjs-core keeps one engine per process (on globalThis), so the selection is process-wide state too.
const results = new Map<TfjsEngineName, Probe>();
let current: { name: TfjsEngineName; detail: string; preference: TfjsEngineName[] } | undefined;
let selecting: Promise<TfjsEngine> = Promise.resolve(undefined as unknown as TfjsEngine);

function fail(err: unknown): Probe {
  return { ok: false, reason: (err instanceof Error ? err.message : String(err)).split('\n')[0] };
}

/** Makes the engine's tfjs backend registered and initialized (without leaving it active), or says why not. */
async function probe(name: TfjsEngineName, askedByName: boolean): Promise<Probe> {
  const known = results.get(name);
  // a WebGPU probe without the software fallback is redone when the engine is asked for by name
  if (known && (known.ok || name !== 'webgpu' || !askedByName)) return known;
  let result: Probe;
  try {
    result = await probeUncached(name, askedByName);
  } catch (err) {
    result = fail(err);
  }
  results.set(name, result);
  return result;
}

async function probeUncached(name: TfjsEngineName, askedByName: boolean): Promise<Probe> {
  const before = tf.getBackend() as string | undefined;
  switch (name) {
    case 'tfjs-node-gpu':
    case 'tfjs-node': {
      const r = await probeNative(name);
      await restore(before);
      return r;
    }
    case 'webgpu': {
      const r = await probeWebGpu(askedByName);
      if (!r.ok) return r;
      // initializing runs tfjs-backend-webgpu's constructor, which can still refuse the device
      if (!(await tf.setBackend('webgpu'))) {
        return { ok: false, reason: `${r.detail}: tfjs-backend-webgpu failed to initialize on it` };
      }
      await restore(before);
      return r;
    }
    case 'wasm': {
      await withTfjsWarningsOff(() => import('@tensorflow/tfjs-backend-wasm'));
      // instantiates the SIMD build (threads are off under Node); the .wasm files ship in the package's dist/
      if (!(await tf.setBackend('wasm'))) {
        return { ok: false, reason: 'tfjs-backend-wasm failed to initialize (see the warning above)' };
      }
      await restore(before);
      return { ok: true, detail: `tfjs-backend-wasm ${tf.version_core} (WebAssembly, SIMD)` };
    }
    case 'cpu': {
      await withTfjsWarningsOff(() => import('@tensorflow/tfjs-backend-cpu'));
      if (!(await tf.setBackend('cpu')))
        return { ok: false, reason: 'tfjs-backend-cpu failed to initialize' };
      // its first upload in Node prints a banner recommending tfjs-node; the engine report says that already
      (tf.findBackend('cpu') as unknown as { firstUse?: boolean }).firstUse = false;
      await restore(before);
      return { ok: true, detail: `tfjs-backend-cpu ${tf.version_core} (plain JavaScript)` };
    }
  }
}

async function restore(backend: string | undefined): Promise<void> {
  if (backend && tf.getBackend() !== backend && tf.findBackend(backend)) await tf.setBackend(backend);
}

function preferenceOf(preference: readonly string[] | undefined): {
  order: TfjsEngineName[];
  explicit: boolean;
} {
  if (preference) return { order: parseEnginePreference(preference), explicit: true };
  const env = typeof process !== 'undefined' ? process.env?.[ENGINE_ENV] : undefined;
  if (env) return { order: parseEnginePreference(env.split(','), ENGINE_ENV), explicit: true };
  return { order: [...TFJS_ENGINE_NAMES], explicit: false };
}

/**
 * Picks the first engine of `preference` that works here (default: tfjs-node-gpu, tfjs-node, wasm, webgpu,
 * cpu, or the comma-separated list in $BLASTKIT_TFJS_ENGINE), makes it tfjs' active backend and returns it
 * with the tfjs-core module. WebGPU is tried on a hardware adapter only, unless `preference` names it (then
 * a software adapter is acceptable). Throws naming every engine's reason when none works.
 */
export function selectTfjsEngine(preference?: string[]): Promise<TfjsEngine> {
  // selections are serialized: each one switches the process-wide tfjs backend
  const next = selecting.catch(() => undefined).then(() => selectNow(preference));
  selecting = next;
  return next;
}

async function selectNow(preference: string[] | undefined): Promise<TfjsEngine> {
  const { order, explicit } = preferenceOf(preference);
  for (const name of order) {
    const r = await probe(name, explicit);
    if (!r.ok) continue;
    const backendName = TFJS_BACKEND_NAME[name];
    if (!(await tf.setBackend(backendName))) {
      results.set(name, { ok: false, reason: `tfjs refused to switch to its '${backendName}' backend` });
      continue;
    }
    current = { name, detail: r.detail, preference: order };
    return { name, tf, detail: r.detail };
  }
  const why = order.map((n) => {
    const r = results.get(n);
    return `${n}: ${r && !r.ok ? r.reason : 'not tried'}`;
  });
  throw new Error(`no TensorFlow.js engine works here (${why.join('; ')})`);
}

/** The engine selected last in this process, if any. */
export function currentTfjsEngine(): TfjsEngine | undefined {
  return current && { name: current.name, tf, detail: current.detail };
}

/**
 * Which engine runs and, for each other engine, why it was not picked. Selects the default engine first if
 * none is selected yet. With `probeAll`, engines after the picked one (or outside its preference list) are
 * probed too — this loads them (tfjs-node maps its ~850 MB library, WebGPU opens a device) but leaves the
 * picked engine active — so each says whether it would work here.
 */
export async function tfjsEngineReport(options: { probeAll?: boolean } = {}): Promise<TfjsEngineReport> {
  const engine = currentTfjsEngine() ?? (await selectTfjsEngine());
  if (options.probeAll) {
    await (selecting = selecting
      .catch(() => undefined)
      .then(async () => {
        for (const name of TFJS_ENGINE_NAMES) if (name !== engine.name) await probe(name, false);
        await restore(TFJS_BACKEND_NAME[engine.name]);
        return engine;
      }));
  }
  const order = current?.preference ?? [...TFJS_ENGINE_NAMES];
  const engines = TFJS_ENGINE_NAMES.map((name): TfjsEngineStatus => {
    if (name === engine.name) return { name, status: 'picked', detail: engine.detail };
    const r = results.get(name);
    if (r?.ok) {
      const why = order.includes(name)
        ? order.indexOf(name) < order.indexOf(engine.name)
          ? 'failed to become the active backend'
          : `${engine.name} comes first`
        : 'not in the preference list';
      return { name, status: 'available', detail: `${r.detail}; not picked: ${why}` };
    }
    if (r) return { name, status: 'unavailable', detail: r.reason };
    const why = order.includes(name)
      ? `not tried: ${engine.name} was picked first`
      : 'not in the preference list';
    return { name, status: 'not-probed', detail: why };
  });
  return { picked: engine.name, engines };
}

/** The report as lines of text, the picked engine marked ▶, available ✓, unavailable ✗, not probed ·. */
export function formatTfjsEngineReport(report: TfjsEngineReport): string {
  const mark = { picked: '▶', available: '✓', unavailable: '✗', 'not-probed': '·' } as const;
  return report.engines.map((e) => `${mark[e.status]} ${e.name.padEnd(13)} ${e.detail}`).join('\n');
}
