import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One temp folder per run, removed after it (the fixture cache stays): test/setup/tempDir.ts.
    globalSetup: ['test/setup/tempDir.ts'],
    // ONNX sessions are heavy: a few forks keep 2-core CI machines responsive.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Each fork runs file after file in one process, importing the toolkit (onnxruntime-node, the
    // tokenizers, tsx's transforms) once rather than per file: 377 s against 431 s on a 2-core AVX2 VM.
    // This relies on no test file leaving state for the next (mocks, env writes, chdir; each makes
    // its own temp folders and disposes its models): test/layout/testIsolation.test.ts checks.
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
