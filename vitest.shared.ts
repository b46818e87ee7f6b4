import { defineConfig } from 'vitest/config';

/**
 * The one vitest configuration every package extends. Each package writes a JSON report to
 * `.reports/vitest.json` so `.ci/run` can add up passed and failed tests across the workspace.
 */
export function packageTestConfig(overrides: { testTimeout?: number } = {}) {
  return defineConfig({
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      reporters: ['default', 'json'],
      outputFile: { json: '.reports/vitest.json' },
      testTimeout: overrides.testTimeout ?? 60_000,
      pool: 'forks',
    },
  });
}
