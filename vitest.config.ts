import { defineConfig } from 'vitest/config';

// Integration tests share two CPUs, hugepages and network namespaces: run files one at
// a time so a polling worker and a traffic thread get a CPU each.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
