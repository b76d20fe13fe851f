// The appliance image's VM test (npm run test:image): builds the x64 image and boots it under qemu. Kept out of
// `npm test` while a TCG boot on a 2-core machine takes minutes (see README, "Flash and boot").
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 2_400_000,
    include: ["test/image/**/*.vm.ts"],
  },
});
