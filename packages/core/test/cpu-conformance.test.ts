import { CpuBackend } from '../src/index.js';
import { describeBackendConformance } from '../src/test/index.js';

// The reference runs the suite against the PyTorch goldens; the cross-checks against itself are trivially
// equal here but prove the suite runs end to end for the other backends.
describeBackendConformance({ name: 'cpu', createBackend: () => new CpuBackend() });
