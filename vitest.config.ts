// Test runner configuration: unit tests beside their source, cross-process tests in test/. Files named
// `*.alone.test.ts` (long, heavy runs such as the 10-minute live GC test) run in a group of their own after all others.
import { defineConfig } from "vitest/config";

const ALONE = "test/**/*.alone.test.ts";

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ["default"],
    projects: [
      { extends: true, test: { name: "main", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: [ALONE], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "alone", include: [ALONE], maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
