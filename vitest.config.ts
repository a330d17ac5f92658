import { defineConfig } from 'vitest/config';

// .ci/run sets VITEST_JSON_REPORT to get a machine-readable summary beside the normal output.
const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests create namespaces and devices: run files one at a time to keep them apart.
    fileParallelism: false,
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
