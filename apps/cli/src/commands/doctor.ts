import { BACKEND_NAMES, resolveBackend } from '../backends.js';

export interface DoctorResult {
  node: string;
  platform: string;
  backends: { name: string; available: boolean; detail: string }[];
}

/** `blastkit doctor`: which compute backends load here, and for each that does not, why. */
export async function runDoctor(): Promise<DoctorResult> {
  const backends: DoctorResult['backends'] = [];
  for (const name of BACKEND_NAMES) {
    try {
      const be = await resolveBackend(name);
      backends.push({ name, available: true, detail: `loaded (backend '${be.name}')` });
      await be.close?.();
    } catch (err) {
      backends.push({ name, available: false, detail: err instanceof Error ? err.message : String(err) });
    }
  }
  return { node: process.version, platform: `${process.platform}-${process.arch}`, backends };
}

export function formatDoctor(r: DoctorResult): string {
  return [
    `node ${r.node} on ${r.platform}`,
    ...r.backends.map((b) => `${b.available ? '✓' : '✗'} ${b.name.padEnd(7)} ${b.detail}`),
  ].join('\n');
}
