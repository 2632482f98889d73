import { defineConfig } from 'vitest/config';

// Unit tests live beside the code they test and never touch the network;
// integration tests start real processes and so run one file at a time: files
// run side by side would compete for CPU and disturb each other's timing.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
