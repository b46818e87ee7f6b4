#!/usr/bin/env node
// Builds the CUDA addon dist/native/blastkit_cuda.node with nvcc, straight from native/ (no node-gyp: it would
// download Node's headers). When nvcc or Node's headers are missing it builds nothing, records why in
// dist/native/build-info.json and exits 0, so the monorepo builds on machines without CUDA. A compiler that
// is found and fails is an error (exit 1).
//
// Environment:
//   BLASTKIT_CUDA_BUILD=skip   build nothing (records the reason); =force rebuilds even when up to date
//   BLASTKIT_NVCC=/path/nvcc   use this nvcc only (default: PATH, then $CUDA_HOME/bin, $CUDA_PATH/bin,
//                              /usr/local/cuda/bin)
//   BLASTKIT_CUDA_ARCHS=80,90  SASS targets (default 80,90); PTX of the highest is embedded for newer GPUs
//   BLASTKIT_NODE_INCLUDE=dir  the folder holding node_api.h (default: next to this node, /usr/include/node,
//                              /usr/local/include/node)
//   BLASTKIT_NATIVE_OUT=dir    write there instead of dist/native (the tests use it)

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const outDir = process.env.BLASTKIT_NATIVE_OUT
  ? resolve(process.env.BLASTKIT_NATIVE_OUT)
  : join(root, 'dist', 'native');
const addonPath = join(outDir, 'blastkit_cuda.node');
const infoPath = join(outDir, 'build-info.json');

const SOURCES = ['addon.cc', 'cublas-loader.cc', 'kernels.cu'];
const HEADERS = ['common.h', 'cublas-lite.h', 'cublas-loader.h', 'kernels.h'];

function writeInfo(info) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(infoPath, `${JSON.stringify(info, null, 2)}\n`);
}

function skip(reason) {
  // a stale addon from an earlier build must not outlive the reason it was not rebuilt
  rmSync(addonPath, { force: true });
  writeInfo({ built: false, reason, at: new Date().toISOString() });
  console.log(`@blastkit/backend-cuda: native addon not built: ${reason}`);
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

/** The nvcc to use and where it was found, or undefined with the places searched. */
function findNvcc() {
  const forced = process.env.BLASTKIT_NVCC;
  if (forced) return executable(forced) ? { nvcc: forced } : { searched: [`BLASTKIT_NVCC=${forced}`] };
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const home of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) {
    if (home) dirs.push(join(home, 'bin'));
  }
  for (const dir of dirs) {
    const candidate = join(dir, 'nvcc');
    if (executable(candidate)) return { nvcc: candidate };
  }
  return { searched: ['PATH', '$CUDA_HOME/bin', '$CUDA_PATH/bin', '/usr/local/cuda/bin'] };
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

const mode = (process.env.BLASTKIT_CUDA_BUILD ?? '').toLowerCase();
if (['skip', '0', 'off', 'false', 'no'].includes(mode))
  skip(`BLASTKIT_CUDA_BUILD=${process.env.BLASTKIT_CUDA_BUILD}`);
if (process.platform !== 'linux') skip(`the CUDA addon is built on Linux only (this is ${process.platform})`);

const found = findNvcc();
if (!found.nvcc) skip(`nvcc not found (searched ${found.searched.join(', ')})`);
const nvcc = found.nvcc;
const include = findNodeInclude();
if (!include.dir) skip(`Node's headers (node_api.h) not found in ${include.candidates.join(', ')}`);

let nvccVersion;
try {
  const text = execFileSync(nvcc, ['--version'], { encoding: 'utf8' });
  nvccVersion = /release [^\n]*/.exec(text)?.[0] ?? text.trim().split('\n').pop();
} catch (err) {
  skip(`${nvcc} --version failed: ${err.message.split('\n')[0]}`);
}

const archs = (process.env.BLASTKIT_CUDA_ARCHS ?? '80,90')
  .split(/[,\s]+/)
  .filter(Boolean)
  .map(Number);
if (archs.length === 0 || archs.some((a) => !Number.isInteger(a) || a < 50)) {
  console.error(`BLASTKIT_CUDA_ARCHS=${process.env.BLASTKIT_CUDA_ARCHS}: expected numbers like 80,90`);
  process.exit(1);
}
const ptxArch = Math.max(...archs);
const gencode = [
  ...archs.flatMap((a) => ['-gencode', `arch=compute_${a},code=sm_${a}`]),
  '-gencode',
  `arch=compute_${ptxArch},code=compute_${ptxArch}`,
];
const archsText = [...archs.map((a) => `sm_${a}`), `compute_${ptxArch}`].join(' ');

// the build's parameters reach the sources through a generated header (nvcc splits -D values at commas)
const config = `#define BLASTKIT_MIN_SM ${Math.min(...archs)}\n#define BLASTKIT_ARCHS "${archsText}"\n`;
const common = ['-std=c++17', '-O3', '-Xcompiler', '-fPIC,-fvisibility=hidden,-Wall,-Wextra'];

const hash = createHash('sha256');
for (const f of [...SOURCES, ...HEADERS]) hash.update(f).update(readFileSync(join(nativeDir, f)));
hash
  .update(config)
  .update(nvccVersion)
  .update(include.dir)
  .update(common.join(' '))
  .update(gencode.join(' '));
const digest = hash.digest('hex').slice(0, 16);

if (mode !== 'force' && existsSync(addonPath) && existsSync(infoPath)) {
  try {
    const previous = JSON.parse(readFileSync(infoPath, 'utf8'));
    if (previous.built && previous.hash === digest) {
      console.log(`@blastkit/backend-cuda: native addon up to date (${addonPath})`);
      process.exit(0);
    }
  } catch {
    // rebuild
  }
}

const objDir = join(outDir, 'obj');
mkdirSync(objDir, { recursive: true });
const configPath = join(objDir, 'build-config.h');
writeFileSync(configPath, config);

const started = Date.now();
try {
  const objects = SOURCES.map((f) => join(objDir, f.replace(/\.(cc|cu)$/, '.o')));
  await Promise.all(
    SOURCES.map((f, i) => {
      const args = ['-c', join(nativeDir, f), '-o', objects[i], ...common, '-include', configPath];
      if (f.endsWith('.cu')) args.push(...gencode);
      else args.push('-I', include.dir);
      return run(nvcc, args);
    }),
  );
  // cudart is linked statically (nvcc's default, stated anyway): at run time the addon needs only the driver
  // (libcuda.so.1) and cuBLAS, both opened when first used. --exclude-libs keeps cudart's symbols private.
  await run(nvcc, [
    '-shared',
    '-o',
    addonPath,
    ...objects,
    '-cudart',
    'static',
    '-Xlinker',
    '--exclude-libs,ALL',
    '-ldl',
    '-lrt',
    '-lpthread',
  ]);
} catch (err) {
  rmSync(addonPath, { force: true });
  writeInfo({ built: false, failed: true, reason: `nvcc failed: ${err.message.split('\n')[0]}`, nvcc });
  console.error(`@blastkit/backend-cuda: native build failed:\n${err.message}`);
  process.exit(1);
}
rmSync(objDir, { recursive: true, force: true });

const seconds = Math.round((Date.now() - started) / 100) / 10;
writeInfo({
  built: true,
  file: 'blastkit_cuda.node',
  hash: digest,
  nvcc,
  nvccVersion,
  archs: archsText,
  nodeInclude: include.dir,
  seconds,
  at: new Date().toISOString(),
});
console.log(`@blastkit/backend-cuda: built ${addonPath} (${archsText}) in ${seconds} s`);
