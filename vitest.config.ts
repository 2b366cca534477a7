import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'test/unit/**/*.test.ts',
            'test/sim/**/*.test.ts',
            'test/lin/checker.test.ts',
            'test/lin/report.test.ts',
            'test/lin/membership-plan.test.ts',
            'test/lin/watch-checker.test.ts',
            'test/lin/lease-checker.test.ts',
          ],
        },
      },
      {
        // Real processes on real ports with timing assertions (failover windows): one file at a time.
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/integration/**/*.test.ts', 'test/lin/**/*.test.ts'],
          exclude: [
            'test/lin/checker.test.ts',
            'test/lin/report.test.ts',
            'test/lin/membership-plan.test.ts',
            'test/lin/watch-checker.test.ts',
            'test/lin/lease-checker.test.ts',
          ],
          fileParallelism: false,
        },
      },
    ],
  },
});
