import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          setupFiles: ["test/setup/secrets.ts"],
          include: [
            "test/{unit,app,http,bundle,host,nix,ui,client,console,fuzz,load,fleet,kexec}/**/*.test.ts",
          ],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "vm",
          include: ["test/vm/**/*.test.ts"],
          testTimeout: 900_000,
          hookTimeout: 3_600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
