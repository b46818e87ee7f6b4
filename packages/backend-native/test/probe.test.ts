import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  createBackend,
  NativeBackend,
  NativeUnavailableError,
  readBuildInfo,
  resolveThreads,
} from '../src/index.js';

// probe() says whether the addon loads and, when it does not, why. BLASTKIT_NATIVE=off (or BLASTKIT_NATIVE_ADDON
// naming a file that is not there) makes it unloadable on purpose: the CLI's fallback to the CPU reference is
// tested with it.

function withEnv<T>(env: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('NativeBackend.probe', () => {
  const probe = NativeBackend.probe();

  it('answers synchronously with a boolean, and a reason whenever it says no', () => {
    expect(typeof probe.available).toBe('boolean');
    if (!probe.available) expect(probe.reason?.length).toBeGreaterThan(0);
  });

  const build = readBuildInfo();
  const switched = Boolean(process.env.BLASTKIT_NATIVE || process.env.BLASTKIT_NATIVE_ADDON);
  if (switched) {
    it('is switched by BLASTKIT_NATIVE / BLASTKIT_NATIVE_ADDON in this run', () => {
      expect(typeof probe.available).toBe('boolean');
    });
  } else if (build?.built) {
    it('loads the variant the build made, from dist/native', () => {
      expect(probe.available, probe.reason).toBe(true);
      expect(Object.keys(build.variants ?? {})).toContain(probe.variant);
      expect(probe.addonPath).toMatch(/dist\/native\/blastkit_native\.\w+\.node$/);
      expect(probe.threads).toBeGreaterThanOrEqual(1);
    });
  } else if (build) {
    it("names the native build's own reason for not building", () => {
      expect(probe.reason).toBe(`no native build: ${build.reason}`);
    });
  }

  it('BLASTKIT_NATIVE=off makes the addon unloadable, and create() says why', async () => {
    const [off, created, viaCli] = withEnv({ BLASTKIT_NATIVE: 'off' }, () => [
      NativeBackend.probe(),
      NativeBackend.create().catch((e) => e),
      createBackend().catch((e) => e),
    ]);
    expect(off).toEqual({ available: false, reason: 'turned off by BLASTKIT_NATIVE=off' });
    expect(await created).toBeInstanceOf(NativeUnavailableError);
    expect((await viaCli).message).toBe('native backend unavailable: turned off by BLASTKIT_NATIVE=off');
  });

  it('BLASTKIT_NATIVE_ADDON naming a missing file makes it unloadable too', () => {
    withEnv(
      { BLASTKIT_NATIVE: undefined, BLASTKIT_NATIVE_ADDON: '/nonexistent/blastkit_native.node' },
      () => {
        expect(NativeBackend.probe().reason).toBe(
          'BLASTKIT_NATIVE_ADDON=/nonexistent/blastkit_native.node does not exist',
        );
      },
    );
  });

  it('also in a fresh process (what the CLI sees)', () => {
    const code = `import('@blastkit/backend-native').then((m) => console.log(JSON.stringify(m.NativeBackend.probe())))`;
    const out = execFileSync(process.execPath, ['-e', code], {
      cwd: import.meta.dirname,
      env: { ...process.env, BLASTKIT_NATIVE: 'off' },
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual({ available: false, reason: 'turned off by BLASTKIT_NATIVE=off' });
  });
});

describe('threads', () => {
  it('come from the option, else BLASTKIT_THREADS, else the core count', () => {
    expect(resolveThreads(3)).toBe(3);
    withEnv({ BLASTKIT_THREADS: '5' }, () => expect(resolveThreads()).toBe(5));
    withEnv({ BLASTKIT_THREADS: undefined }, () => expect(resolveThreads()).toBeGreaterThanOrEqual(1));
    withEnv({ BLASTKIT_THREADS: 'many' }, () =>
      expect(() => resolveThreads()).toThrow(
        'native backend: BLASTKIT_THREADS=many must be an integer in [1, 1024], got NaN',
      ),
    );
    expect(() => resolveThreads(0)).toThrow(/threads option must be an integer/);
  });

  it.runIf(NativeBackend.probe().available)(
    'BLASTKIT_THREADS sets the pool of a backend made without options',
    () => {
      withEnv({ BLASTKIT_THREADS: '3' }, () => {
        const be = NativeBackend.createSync();
        expect(be.memory.threads).toBe(3);
        expect(be.describe().engine).toMatch(/, 3 threads$/);
        be.close();
      });
    },
  );
});
