import { configDefaults, defineConfig } from 'vitest/config';

// Unit tests live beside the code they test and never touch the network;
// integration tests start real processes and so run one file at a time: files
// run side by side would compete for CPU and disturb each other's timing.
// Container tests (real Docker) run after everything else, for the same reason,
// on images built once per run by their global setup.
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
          exclude: [...configDefaults.exclude, 'test/integration/containers/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'containers',
          include: ['test/integration/containers/**/*.test.ts'],
          globalSetup: ['test/integration/containers/global-setup.ts'],
          // Ryuk, testcontainers' reaper, is an image that cannot be pulled here; the tests remove what they start.
          // Published ports are reached on loopback, where the harness sends traffic, even where testcontainers would pick the bridge gateway.
          env: { TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1' },
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
