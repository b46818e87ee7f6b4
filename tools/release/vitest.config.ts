import { packageTestConfig } from '../../vitest.shared';

export default packageTestConfig({ testTimeout: 180_000 });
