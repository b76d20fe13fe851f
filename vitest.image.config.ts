// The appliance images' VM tests (npm run test:image, and the last phase of a whole `npm test`): build the arm64 and
// x64 images and boot them under qemu, one at a time (a TCG boot on a 2-core machine takes the whole machine).
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
