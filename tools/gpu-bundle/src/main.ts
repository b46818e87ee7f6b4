#!/usr/bin/env node
/**
 * `node tools/gpu-bundle/dist/main.js [OUT]` (default OUT: .gpu-bundle at the repository root, git-ignored):
 * packs the built bench app for the GPU machine. Then, through the device tool: carry OUT (and .gl where the
 * image lacks the Vulkan loader) and run `OUT/run.sh gpu-layers --out $OUT`.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleBench, shown } from './bundle.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const out = resolve(process.argv[2] ?? join(root, '.gpu-bundle'));
const result = await bundleBench(join(root, 'apps', 'bench'), out);
process.stdout.write(
  `${shown(result.out)}: ${result.files} files, ${(result.bytes / 2 ** 20).toFixed(1)} MiB — run ${shown(join(out, 'run.sh'))} gpu-layers\n`,
);
