import { describeBackendConformance } from '@blastkit/core/test';
import { openCudaBackend } from '../src/index.js';
import { emulatedAddon } from './support/emulated-addon.js';

// The JavaScript half of the CUDA backend against a host emulation of the addon (test/support/emulated-addon.ts):
// every shape check, the row-major → column-major mapping of each cuBLAS call (operands, m/n/k, leading
// dimensions, batch strides), the strides and offsets of each kernel call, scratch use. It runs on any
// machine; it does not run a line of CUDA (conformance.test.ts does that where there is a GPU).
describeBackendConformance({
  name: 'cuda backend on an emulated addon (host memory, no CUDA)',
  createBackend: () => openCudaBackend(emulatedAddon()),
});
