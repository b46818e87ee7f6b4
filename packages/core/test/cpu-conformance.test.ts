import { CpuBackend } from '../src/index.js';
import { describeBackendConformance } from '../src/test/index.js';

// The reference runs the suite against the PyTorch goldens only: its cross-checks against itself would compare
// a backend with itself, which proves nothing, so `reference: true` leaves them out.
describeBackendConformance({ name: 'cpu', createBackend: () => new CpuBackend(), reference: true });
