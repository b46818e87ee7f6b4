import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cliBin } from './cli-harness.js';

// `--backend auto` is every command's default: the native CPU backend where its addon loads, else the TypeScript
// reference, with the reason printed. Child processes, so the environment that disables the addon applies.
const nativeProbe = async () => {
  const spec = '@blastkit/backend-native';
  const mod = (await import(spec)) as { NativeBackend: { probe(): { available: boolean; reason?: string } } };
  return mod.NativeBackend.probe();
};

function generateJson(env: NodeJS.ProcessEnv) {
  const out = execFileSync(
    process.execPath,
    [cliBin, 'generate', 'stories15M', '--prompt', 'Once upon a time', '--max-tokens', '12', '--json'],
    { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return JSON.parse(out) as {
    backend: string;
    backendDescription: { name: string; engine: string };
    tokens: number[];
  };
}

describe('--backend auto', () => {
  it('picks the native backend wherever its addon loads, and it generates the reference tokens', async () => {
    const probe = await nativeProbe();
    // this machine builds the addon (pnpm build with g++ and Eigen): not loading it here is a failure to see
    expect(probe.reason ?? '').toBe('');
    expect(probe.available).toBe(true);
    const auto = generateJson({});
    expect(auto.backend).toBe('native');
    expect(auto.backendDescription.engine).toMatch(/Eigen/);
    const reference = generateJson({ BLASTKIT_NATIVE: 'off' });
    expect(reference.backend).toBe('cpu');
    expect(auto.tokens).toEqual(reference.tokens);
  });

  it('falls back to the reference when the addon cannot load, and doctor says why', () => {
    const text = execFileSync(process.execPath, [cliBin, 'doctor'], {
      env: { ...process.env, BLASTKIT_NATIVE: 'off' },
      encoding: 'utf8',
    });
    expect(text).toMatch(/--backend auto \(the default\) picks cpu; native passed over: .*BLASTKIT_NATIVE/);
    expect(text).toMatch(/^✗ native/m);
  });
});
