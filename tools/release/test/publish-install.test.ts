import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicPackages, readmeExamples } from '../src/packages.js';
import {
  configuredRegistry,
  type LocalRegistry,
  publishedVersion,
  startLocalRegistry,
  userNpmrc,
} from '../src/registry.js';

const root = resolve(import.meta.dirname, '../../..');
const packages = publicPackages(root);
const npmrcBefore = userNpmrc(homedir());
let work: string;
let registry: LocalRegistry;
let installDir: string;

// The release path for real: every public package is published with `pnpm publish` (which rewrites
// workspace:* to versions, as a real release does) to a throw-away verdaccio, then installed by npm from that
// registry into an empty folder. Third-party dependencies come from the configured registry; @blastkit/* only
// from what was just published. Nothing here reads the user's token or writes ~/.npmrc.
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'blastkit-release-'));
  registry = await startLocalRegistry({
    dir: join(work, 'registry'),
    uplink: configuredRegistry(),
    scope: '@blastkit',
  });
  const run = (cmd: string, args: string[], cwd: string) => {
    try {
      return execFileSync(cmd, args, { cwd, env: registry.env, encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(
        `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`,
      );
    }
  };
  for (const pkg of packages)
    run('pnpm', ['publish', '--registry', registry.url, '--no-git-checks', '--access', 'public'], pkg.dir);

  installDir = join(work, 'consumer');
  mkdirSync(installDir);
  writeFileSync(
    join(installDir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...packages.map((p) => `${p.name}@${p.manifest.version}`),
    ],
    installDir,
  );
}, 300_000);

// removing the consumer's node_modules (tfjs, Dawn…) takes seconds on a busy machine
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('the release path: publish every public package to a local registry, install from it', () => {
  it('finds the public packages, each a devDependency here (so turbo builds them before this test)', () => {
    const names = packages.map((p) => p.name);
    expect(names).toContain('@blastkit/core');
    expect(names).toContain('@blastkit/bench');
    const dev = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'),
    ).devDependencies;
    for (const name of names)
      expect(dev[name], `${name} missing from tools/release devDependencies`).toBe('workspace:*');
  });

  it('the registry serves every published version, and nothing else of the scope', async () => {
    for (const pkg of packages)
      expect(await publishedVersion(registry.url, pkg.name)).toBe(pkg.manifest.version);
    // @blastkit/* is local only: a name nobody published is a 404, not a lookup upstream
    expect(await publishedVersion(registry.url, '@blastkit/no-such-package')).toBeUndefined();
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')(
    'the native backend ships prebuilt addons for linux-x64 (AVX2 and baseline), so no compiler is needed',
    () => {
      const dir = join(installDir, 'node_modules', '@blastkit', 'backend-native', 'prebuilds', 'linux-x64');
      expect(existsSync(dir), `${dir} missing: the package's prepack builds it`).toBe(true);
      expect(
        readdirSync(dir)
          .filter((f) => f.endsWith('.node'))
          .sort(),
      ).toEqual(['blastkit_native.avx2.node', 'blastkit_native.baseline.node']);
    },
  );

  it("left the user's ~/.npmrc as it was", () => {
    expect(userNpmrc(homedir())).toBe(npmrcBefore);
  });

  for (const pkg of packages) {
    describe(pkg.name, () => {
      const installed = () => join(installDir, 'node_modules', pkg.name);

      it('was installed from the registry with its workspace ranges rewritten to versions', () => {
        const manifest = JSON.parse(readFileSync(join(installed(), 'package.json'), 'utf8'));
        expect(manifest.version).toBe(pkg.manifest.version);
        expect(JSON.stringify(manifest)).not.toContain('workspace:');
        const lock = JSON.parse(readFileSync(join(installDir, 'package-lock.json'), 'utf8'));
        expect(lock.packages[`node_modules/${pkg.name}`].resolved).toContain(registry.url);
      });

      it('has an exports map with types first, and ships only what `files` declares (no src, tests or results)', () => {
        const exportsMap = pkg.manifest.exports as Record<string, unknown>;
        expect(exportsMap).toBeDefined();
        for (const [key, target] of Object.entries(exportsMap)) {
          if (key === './package.json') continue;
          expect(Object.keys(target as object)[0], `${pkg.name} exports ${key}`).toBe('types');
        }
        expect(existsSync(join(installed(), 'README.md'))).toBe(true);
        const declared = new Set(
          (pkg.manifest.files as string[]).filter((f) => !f.startsWith('!')).map((f) => f.split('/')[0]),
        );
        for (const entry of readdirSync(installed()))
          expect(
            declared.has(entry) ||
              ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'node_modules'].includes(entry),
            `${pkg.name} ships ${entry}`,
          ).toBe(true);
        const dist = readdirSync(join(installed(), 'dist'), { recursive: true }) as string[];
        expect(dist.filter((f) => f.includes('.test.'))).toEqual([]);
      });

      it('imports every export from the installed copy, and each exports something', () => {
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
          if (key === './test') expect(out.trim(), `${spec} resolves`).toMatch(/^file:\/\//);
          // a module that imports but exports nothing is a broken build, not a package
          else expect(Number(out.trim()), `${spec}: number of exports`).toBeGreaterThan(0);
        }
      });

      const readme = join(pkg.dir, 'README.md');
      const examples = existsSync(readme) ? readmeExamples(readFileSync(readme, 'utf8')) : [];
      it('has at least one README example to run', () => {
        expect(examples.length, `${pkg.name}: README.md needs a \`\`\`js example block`).toBeGreaterThan(0);
      });
      examples.forEach((example, i) => {
        it(`runs README example ${i + 1} against the installed package`, () => {
          const file = join(installDir, `example-${pkg.name.replace(/\W/g, '_')}-${i}.mjs`);
          writeFileSync(file, example);
          const out = execFileSync('node', [file], { cwd: installDir, encoding: 'utf8' });
          // examples print `true` for each property they check, never `false`
          expect(out).not.toMatch(/\bfalse\b/);
          expect(out).toMatch(/\btrue\b/);
        });
      });
    });
  }
});
