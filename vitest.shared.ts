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
      // hooks set up and tear down real files (fuzz suites remove thousands of case folders): vitest's 10 s
      // default failed a CI run on a loaded machine, so hooks get the same allowance as tests
      hookTimeout: 60_000,
      pool: 'forks',
    },
  });
}
