import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One temp folder per run, removed after it (the fixture cache stays): test/setup/tempDir.ts.
    globalSetup: ['test/setup/tempDir.ts'],
    // ONNX sessions are heavy: a few forks keep 2-core CI machines responsive.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
