/**
 * Once per test run (vitest `globalSetup`): builds the bundles from the sources into a temporary folder and packs
 * the onnxruntime tarballs (cached in .tmp/), then provides both to the runner-style harness
 * (test/harness/run-action.ts). Without this setup, the harness prepares them itself in each worker.
 */
import { rm } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { prepareHarness } from './harness/prepare.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const context = await prepareHarness((message) => process.stdout.write(`[global-setup] ${message}\n`));
  project.provide('slmopsHarness', context);
  return async () => {
    await rm(context.tempRoot, { recursive: true, force: true });
  };
}
