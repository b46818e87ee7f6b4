import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBuildInfo } from '../src/index.js';

// The native build: made wherever a C++ compiler, Node's headers and Eigen are present; elsewhere it records why
// and exits 0; a compiler that fails is exit 1.

const root = resolve(import.meta.dirname, '..');
const script = join(root, 'scripts', 'build-native.mjs');
const scratch = mkdtempSync(join(tmpdir(), 'blastkit-native-build-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function runScript(env: Record<string, string>, out: string) {
  return spawnSync(process.execPath, [script], {
    env: { ...process.env, BLASTKIT_NATIVE_BUILD: '', ...env, BLASTKIT_NATIVE_OUT: out },
    encoding: 'utf8',
  });
}

const record = (out: string) => JSON.parse(readFileSync(join(out, 'build-info.json'), 'utf8'));

describe('the native build', () => {
  const info = readBuildInfo();

  it('left a build record in dist/native/build-info.json', () => {
    expect(info, 'run the package build first').toBeDefined();
    if (info?.built) {
      expect(info.eigen).toMatch(/^\d+\.\d+\.\d+$/);
      for (const v of Object.values(info.variants ?? {}))
        expect(existsSync(join(root, 'dist', 'native', v.file))).toBe(true);
    } else {
      expect(info?.reason).toMatch(/compiler|Eigen|headers|BLASTKIT_NATIVE_BUILD|win32/);
    }
  });

  it('exits 0 and records the reason when Eigen is not found', () => {
    const out = join(scratch, 'no-eigen');
    const r = runScript({ EIGEN_INCLUDE_DIR: join(scratch, 'no-eigen-here') }, out);
    expect(r.status, r.stderr).toBe(0);
    expect(record(out)).toMatchObject({ built: false });
    expect(record(out).reason).toMatch(/^Eigen headers \(Eigen\/Core\) not found in .*no-eigen-here/);
  });

  it('exits 0 and records the reason when there is no compiler', () => {
    const out = join(scratch, 'no-cxx');
    const r = runScript({ CXX: join(scratch, 'missing', 'c++') }, out);
    expect(r.status, r.stderr).toBe(0);
    expect(record(out).reason).toMatch(/^no C\+\+ compiler found \(searched CXX=.*missing\/c\+\+\)$/);
  });

  it('exits 0 with BLASTKIT_NATIVE_BUILD=skip', () => {
    const out = join(scratch, 'skip');
    const r = runScript({ BLASTKIT_NATIVE_BUILD: 'skip' }, out);
    expect(r.status, r.stderr).toBe(0);
    expect(record(out).reason).toBe('BLASTKIT_NATIVE_BUILD=skip');
  });

  it.runIf(process.platform === 'linux' && existsSync('/usr/include/eigen3/Eigen/Core'))(
    'exits 1 and records the failure when the compiler fails',
    () => {
      const fake = join(scratch, 'failing-c++');
      writeFileSync(
        fake,
        '#!/bin/sh\nif [ "$1" = --version ]; then echo "fake c++ 1.0"; exit 0; fi\necho "error: no" >&2\nexit 1\n',
      );
      chmodSync(fake, 0o755);
      const out = join(scratch, 'failing');
      const r = runScript({ CXX: fake }, out);
      expect(r.status).toBe(1);
      expect(record(out)).toMatchObject({ built: false, failed: true });
    },
  );
});
