#!/usr/bin/env node
// Builds the native CPU addon, blastkit_native.<variant>.node, with the system C++ compiler straight from
// native/ (no node-gyp: it would download Node's headers). Where no compiler, no Node headers or no Eigen
// headers are found it builds nothing, records why in build-info.json and exits 0, so the monorepo builds
// everywhere; a compiler that is found and fails is an error (exit 1).
//
// Variants: on x64 `avx2` (-mavx2 -mfma -mf16c) and `baseline` (plain x86-64); on arm64 `neon`; elsewhere
// `generic`. A normal build makes the one variant this machine runs (avx2 when the CPU has AVX2 and FMA) into
// dist/native/; `--prebuild` makes every variant of this platform into prebuilds/<platform>-<arch>/, which the
// published package carries.
//
// Environment:
//   BLASTKIT_NATIVE_BUILD=skip    build nothing (records the reason); =force rebuilds even when up to date
//   CXX=/path/to/c++              the compiler (default: c++, g++, clang++ on PATH)
//   EIGEN_INCLUDE_DIR=dir         the folder holding Eigen/Core (default: /usr/include/eigen3,
//                                 /usr/local/include/eigen3, /opt/homebrew/include/eigen3)
//   BLASTKIT_NODE_INCLUDE=dir     the folder holding node_api.h (default: next to this node, /usr/include/node,
//                                 /usr/local/include/node)
//   BLASTKIT_NATIVE_VARIANTS=a,b  build these variants instead of the default choice
//   BLASTKIT_NATIVE_OUT=dir       write there instead of dist/native (the tests use it)

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const prebuild = process.argv.includes('--prebuild');
const platformTag = `${process.platform}-${process.arch}`;
const outDir = process.env.BLASTKIT_NATIVE_OUT
  ? resolve(process.env.BLASTKIT_NATIVE_OUT)
  : prebuild
    ? join(root, 'prebuilds', platformTag)
    : join(root, 'dist', 'native');
const infoPath = join(outDir, 'build-info.json');
const label = '@blastkit/backend-native';

// the Eigen-heavy units (gemm, linalg) are two of five, compiled in parallel with the rest
const SOURCES = ['addon.cc', 'pool.cc', 'kernels.cc', 'gemm.cc', 'linalg.cc'];
const HEADERS = ['common.h'];
// linalg.cc names failing Cholesky pivots with the reference's exact value: no fused multiply-adds there
const UNIT_FLAGS = { 'linalg.cc': ['-ffp-contract=off'] };

const VARIANT_FLAGS = {
  avx2: ['-mavx2', '-mfma', '-mf16c'],
  baseline: ['-march=x86-64', '-mtune=generic'],
  neon: [],
  generic: [],
};

/** The variants this platform can have, best first. */
function platformVariants() {
  if (process.arch === 'x64') return ['avx2', 'baseline'];
  if (process.arch === 'arm64') return ['neon'];
  return ['generic'];
}

/** Whether this CPU has AVX2 and FMA (Linux: /proc/cpuinfo; macOS: sysctl). */
function cpuHasAvx2Fma() {
  try {
    if (process.platform === 'linux') {
      const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].split(/\s+/) ?? [];
      return flags.includes('avx2') && flags.includes('fma');
    }
    if (process.platform === 'darwin') {
      const text = execFileSync('sysctl', ['-n', 'machdep.cpu.features', 'machdep.cpu.leaf7_features'], {
        encoding: 'utf8',
      });
      return /\bAVX2\b/.test(text) && /\bFMA\b/.test(text);
    }
  } catch {
    // unknown: build the baseline
  }
  return false;
}

function writeInfo(info) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(infoPath, `${JSON.stringify(info, null, 2)}\n`);
}

function removeAddons() {
  for (const v of Object.keys(VARIANT_FLAGS))
    rmSync(join(outDir, `blastkit_native.${v}.node`), { force: true });
}

function skip(reason) {
  // a stale addon from an earlier build must not outlive the reason it was not rebuilt
  removeAddons();
  writeInfo({ built: false, reason, at: new Date().toISOString() });
  console.log(`${label}: native addon not built: ${reason}`);
  process.exit(0);
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findCompiler() {
  const forced = process.env.CXX;
  if (forced) {
    if (forced.includes('/')) return executable(forced) ? { cxx: forced } : { searched: [`CXX=${forced}`] };
    const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
    const hit = dirs.map((d) => join(d, forced)).find(executable);
    return hit ? { cxx: hit } : { searched: [`CXX=${forced} on PATH`] };
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['c++', 'g++', 'clang++']) {
    const hit = dirs.map((d) => join(d, name)).find(executable);
    if (hit) return { cxx: hit };
  }
  return { searched: ['c++, g++, clang++ on PATH'] };
}

function findNodeInclude() {
  const candidates = process.env.BLASTKIT_NODE_INCLUDE
    ? [process.env.BLASTKIT_NODE_INCLUDE]
    : [
        join(dirname(dirname(process.execPath)), 'include', 'node'),
        '/usr/include/node',
        '/usr/local/include/node',
      ];
  return { dir: candidates.find((d) => existsSync(join(d, 'node_api.h'))), candidates };
}

function findEigen() {
  const candidates = process.env.EIGEN_INCLUDE_DIR
    ? [process.env.EIGEN_INCLUDE_DIR]
    : ['/usr/include/eigen3', '/usr/local/include/eigen3', '/opt/homebrew/include/eigen3'];
  const dir = candidates.find((d) => existsSync(join(d, 'Eigen', 'Core')));
  if (!dir) return { candidates };
  let version = 'unknown';
  try {
    const macros = readFileSync(join(dir, 'Eigen', 'src', 'Core', 'util', 'Macros.h'), 'utf8');
    const part = (name) => new RegExp(`#define EIGEN_${name}_VERSION\\s+(\\d+)`).exec(macros)?.[1];
    version = `${part('WORLD')}.${part('MAJOR')}.${part('MINOR')}`;
  } catch {
    // keep 'unknown'
  }
  return { dir, version, candidates };
}

function run(cmd, args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (output.trim()) process.stdout.write(output);
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${output}`));
    });
  });
}

/** Runs the jobs with at most `limit` at a time. */
async function pool(jobs, limit) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, jobs.length) }, async () => {
    while (next < jobs.length) await jobs[next++]();
  });
  await Promise.all(workers);
}

const mode = (process.env.BLASTKIT_NATIVE_BUILD ?? '').toLowerCase();
if (['skip', '0', 'off', 'false', 'no'].includes(mode))
  skip(`BLASTKIT_NATIVE_BUILD=${process.env.BLASTKIT_NATIVE_BUILD}`);
if (process.platform === 'win32') skip('the native addon is built on Linux and macOS only (this is win32)');

const found = findCompiler();
if (!found.cxx) skip(`no C++ compiler found (searched ${found.searched.join(', ')})`);
const cxx = found.cxx;
const include = findNodeInclude();
if (!include.dir) skip(`Node's headers (node_api.h) not found in ${include.candidates.join(', ')}`);
const eigen = findEigen();
if (!eigen.dir)
  skip(`Eigen headers (Eigen/Core) not found in ${eigen.candidates.join(', ')} (set EIGEN_INCLUDE_DIR)`);

let cxxVersion;
try {
  cxxVersion = execFileSync(cxx, ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
} catch (err) {
  skip(`${cxx} --version failed: ${err.message.split('\n')[0]}`);
}

const available = platformVariants();
let variants;
if (process.env.BLASTKIT_NATIVE_VARIANTS) {
  variants = process.env.BLASTKIT_NATIVE_VARIANTS.split(/[,\s]+/).filter(Boolean);
  const unknown = variants.filter((v) => !available.includes(v));
  if (unknown.length > 0) {
    console.error(
      `BLASTKIT_NATIVE_VARIANTS: ${unknown.join(', ')} not among ${available.join(', ')} on ${platformTag}`,
    );
    process.exit(1);
  }
} else if (prebuild) {
  variants = available;
} else {
  variants = process.arch === 'x64' ? [cpuHasAvx2Fma() ? 'avx2' : 'baseline'] : available;
}

const common = [
  '-std=c++17',
  '-O3',
  '-DNDEBUG',
  '-fno-math-errno',
  '-ffp-contract=fast',
  '-fPIC',
  '-fvisibility=hidden',
  '-pthread',
  '-Wall',
  '-Wextra',
  '-Wno-psabi',
  '-I',
  include.dir,
  '-isystem',
  eigen.dir,
];
const linkFlags =
  process.platform === 'darwin'
    ? ['-undefined', 'dynamic_lookup']
    : ['-static-libstdc++', '-static-libgcc', '-Wl,--exclude-libs,ALL'];

function digestOf(variant) {
  const hash = createHash('sha256');
  for (const f of [...SOURCES, ...HEADERS]) hash.update(f).update(readFileSync(join(nativeDir, f)));
  hash
    .update(variant)
    .update(cxxVersion)
    .update(eigen.version)
    .update(include.dir)
    .update(common.join(' '))
    .update(JSON.stringify(UNIT_FLAGS))
    .update(VARIANT_FLAGS[variant].join(' '))
    .update(linkFlags.join(' '));
  return hash.digest('hex').slice(0, 16);
}

const digests = Object.fromEntries(variants.map((v) => [v, digestOf(v)]));
if (mode !== 'force' && existsSync(infoPath)) {
  try {
    const previous = JSON.parse(readFileSync(infoPath, 'utf8'));
    const upToDate =
      previous.built &&
      variants.length === Object.keys(previous.variants ?? {}).length &&
      variants.every(
        (v) =>
          previous.variants?.[v]?.hash === digests[v] && existsSync(join(outDir, previous.variants[v].file)),
      );
    if (upToDate) {
      console.log(`${label}: native addon up to date (${variants.join(', ')} in ${outDir})`);
      process.exit(0);
    }
  } catch {
    // rebuild
  }
}

const objDir = join(outDir, 'obj');
mkdirSync(objDir, { recursive: true });
removeAddons();
const started = Date.now();
const record = {};
try {
  const jobs = [];
  for (const v of variants) {
    for (const f of SOURCES) {
      const obj = join(objDir, `${v}-${f.replace(/\.cc$/, '.o')}`);
      const args = [
        '-c',
        join(nativeDir, f),
        '-o',
        obj,
        ...common,
        ...VARIANT_FLAGS[v],
        ...(UNIT_FLAGS[f] ?? []),
        `-DBLASTKIT_VARIANT="${v}"`,
      ];
      jobs.push({ slow: f === 'gemm.cc' || f === 'linalg.cc', run: () => run(cxx, args) });
    }
  }
  // the slowest units first, so the short ones fill the gaps
  jobs.sort((a, b) => Number(b.slow) - Number(a.slow));
  await pool(
    jobs.map((j) => j.run),
    Math.max(1, availableParallelism()),
  );
  for (const v of variants) {
    const file = `blastkit_native.${v}.node`;
    const objects = SOURCES.map((f) => join(objDir, `${v}-${f.replace(/\.cc$/, '.o')}`));
    await run(cxx, ['-shared', '-o', join(outDir, file), ...objects, '-pthread', ...linkFlags]);
    record[v] = { file, hash: digests[v], flags: VARIANT_FLAGS[v].join(' ') };
  }
} catch (err) {
  removeAddons();
  writeInfo({ built: false, failed: true, reason: `${cxx} failed: ${err.message.split('\n')[0]}`, cxx });
  console.error(`${label}: native build failed:\n${err.message}`);
  process.exit(1);
}
rmSync(objDir, { recursive: true, force: true });

const seconds = Math.round((Date.now() - started) / 100) / 10;
writeInfo({
  built: true,
  platform: platformTag,
  variants: record,
  cxx,
  cxxVersion,
  eigen: eigen.version,
  eigenInclude: eigen.dir,
  nodeInclude: include.dir,
  seconds,
  at: new Date().toISOString(),
});
console.log(`${label}: built ${variants.join(', ')} into ${outDir} in ${seconds} s`);
