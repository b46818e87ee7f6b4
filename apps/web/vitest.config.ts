import { packageTestConfig } from '../../vitest.shared';

// The browser test builds the app, loads stories15M and decodes on a software WebGPU adapter: minutes, not
// seconds, on a loaded 2-core machine.
export default packageTestConfig({ testTimeout: 300_000 });
