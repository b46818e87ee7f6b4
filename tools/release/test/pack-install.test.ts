import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicPackages, readmeExamples } from '../src/packages.js';

const root = resolve(import.meta.dirname, '../../..');
const packages = publicPackages(root);
let work: string;
let installDir: string;

// `pnpm pack` rewrites workspace:* to real versions; installing all tarballs together in an empty folder
// proves each package resolves through its exports map, with nothing from the workspace.
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'blastkit-pack-'));
  installDir = join(work, 'consumer');
  execFileSync('mkdir', ['-p', installDir]);
  writeFileSync(
    join(installDir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  for (const pkg of packages) {
    execFileSync('pnpm', ['pack', '--pack-destination', work], { cwd: pkg.dir, stdio: 'pipe' });
  }
  const tarballs = readdirSync(work)
    .filter((f) => f.endsWith('.tgz'))
    .map((f) => join(work, f));
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tarballs],
    {
      cwd: installDir,
      stdio: 'pipe',
    },
  );
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('every public package packs and installs into an empty folder', () => {
  it('finds the public packages', () => {
    expect(packages.map((p) => p.name)).toContain('@blastkit/core');
  });
  for (const pkg of packages) {
    describe(pkg.name, () => {
      it('has an exports map with types first, and ships only dist, README and declared files', () => {
        const exportsMap = pkg.manifest.exports as Record<string, unknown>;
        expect(exportsMap).toBeDefined();
        for (const [key, target] of Object.entries(exportsMap)) {
          if (key === './package.json') continue;
          expect(Object.keys(target as object)[0], `${pkg.name} exports ${key}`).toBe('types');
        }
        const installed = join(installDir, 'node_modules', pkg.name);
        expect(existsSync(join(installed, 'README.md'))).toBe(true);
        expect(existsSync(join(installed, 'src'))).toBe(false);
        const dist = readdirSync(join(installed, 'dist'), { recursive: true }) as string[];
        expect(dist.filter((f) => f.includes('.test.'))).toEqual([]);
      });
      it('imports every export from the installed copy', () => {
        const exportsMap = pkg.manifest.exports as Record<string, unknown>;
        for (const key of Object.keys(exportsMap)) {
          if (key === './package.json') continue;
          const spec = key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`;
          // the conformance suite needs vitest, an optional peer: resolving it is enough there
          const code =
            key === './test'
              ? `console.log(import.meta.resolve('${spec}'))`
              : `const m = await import('${spec}'); console.log(Object.keys(m).length)`;
          const out = execFileSync('node', ['--input-type=module', '-e', code], {
            cwd: installDir,
            encoding: 'utf8',
          });
          expect(out.trim().length).toBeGreaterThan(0);
        }
      });
      const examples = readmeExamples(readFileSync(join(pkg.dir, 'README.md'), 'utf8'));
      examples.forEach((example, i) => {
        it(`runs README example ${i + 1} against the installed package`, () => {
          const file = join(installDir, `example-${pkg.name.replace(/\W/g, '_')}-${i}.mjs`);
          writeFileSync(file, example);
          const out = execFileSync('node', [file], { cwd: installDir, encoding: 'utf8' });
          expect(out).not.toMatch(/\bfalse\b/); // examples print `true` for each property they check
          expect(out.trim().length).toBeGreaterThan(0);
        });
      });
    });
  }
});
