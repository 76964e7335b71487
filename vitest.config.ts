import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One test file at a time: the end-to-end files (the local runner, the fault soak) each drive
    // a whole dispatcher of child processes on a 2-core machine, and side by side they starved
    // each other's stream deliveries. Files still run isolated, each in its own worker. The unit
    // files alone gain nothing from parallel workers here either (2026-12-07, 2 cores: 34.6 s one
    // at a time, 36.8 s with --fileParallelism): their time is each worker's start and imports.
    fileParallelism: false,
    env: { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "local", AWS_SECRET_ACCESS_KEY: "local" },
  },
});
