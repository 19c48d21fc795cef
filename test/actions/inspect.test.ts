import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCKED_RUNTIME } from '../../src/runtime/lock.generated.ts';
import { type ActionRun, runAction } from '../harness/run-action.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

const DIGITS = fixtureModel('digits-cnn');
const version = LOCKED_RUNTIME.packages[0]?.version;
const platformKey = `${process.platform}-${process.arch}`;

describe('the inspect action', () => {
  let toolCache: string;
  let first: ActionRun;

  beforeAll(async () => {
    // A tool cache of its own, so this file sees the first install whatever else ran before.
    toolCache = await mkdtemp(path.join(os.tmpdir(), 'slmops-inspect-cache-'));
    first = await runAction({
      action: 'inspect',
      inputs: { model: 'models/digits.onnx' },
      files: { 'models/digits.onnx': DIGITS },
      toolCache,
    });
  }, 180_000);

  afterAll(async () => {
    await rm(toolCache, { recursive: true, force: true });
  });

  it('installs onnxruntime from the local tarballs into the tool cache and reports the digits model', () => {
    expect(first.errors).toEqual([]);
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain(`Installing onnxruntime-node ${version} (${platformKey})`);
    expect(first.outputs.params).toBe('38282');
    expect(first.outputs.bytes).toBe('154417');
    expect(first.outputs.sha256).toBe('e54320f891bbf302e5e4d3909b59b3f1e804f8451f8a74e65ad8e767445dd451');
    const installed = path.join(toolCache, 'slmops-onnxruntime', String(version), platformKey);
    expect(existsSync(path.join(installed, '.complete'))).toBe(true);
    expect(existsSync(path.join(installed, 'node_modules/onnxruntime-common/package.json'))).toBe(true);
  });

  it('keeps only this platform’s onnxruntime binaries in the tool cache', async () => {
    const napi = path.join(toolCache, 'slmops-onnxruntime', String(version), platformKey);
    const platforms = await readdir(path.join(napi, 'node_modules/onnxruntime-node/bin/napi-v6'));
    expect(platforms).toEqual([process.platform]);
    const arches = await readdir(
      path.join(napi, 'node_modules/onnxruntime-node/bin/napi-v6', process.platform),
    );
    expect(arches).toEqual([process.arch]);
  });

  it('writes the JSON report under RUNNER_TEMP with the smoke run of onnxruntime', () => {
    const reportPath = first.outputs.report ?? '';
    expect(reportPath.startsWith(first.runnerTemp)).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report.parameters).toBe(38282);
    expect(report.smoke.outputs).toEqual([{ name: 'logits', type: 'float32', dims: [1, 10] }]);
  });

  it('writes a job summary table with the parameter count and the onnxruntime timing', () => {
    expect(first.summary).toContain('### slmops inspect: `models/digits.onnx`');
    expect(first.summary).toMatch(/\| Parameters \| 38,282 \|/);
    expect(first.summary).toMatch(/\| onnxruntime \| loaded in [\d.]+ ms; one run/);
  });

  it('reuses the installed runtime on the next run ("cache hit")', async () => {
    const second = await runAction({
      action: 'inspect',
      inputs: { model: 'digits.onnx' },
      files: { 'digits.onnx': DIGITS },
      toolCache,
    });
    expect(second.errors).toEqual([]);
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('cache hit');
    expect(second.stdout).not.toContain('Installing onnxruntime-node');
    expect(second.outputs.params).toBe('38282');
  });

  it('does not need onnxruntime when run is false', async () => {
    const emptyCache = await mkdtemp(path.join(os.tmpdir(), 'slmops-no-runtime-'));
    try {
      const run = await runAction({
        action: 'inspect',
        inputs: { model: 'digits.onnx', run: 'false', 'out-dir': 'reports' },
        files: { 'digits.onnx': DIGITS },
        toolCache: emptyCache,
        env: { SLMOPS_RUNTIME_TARBALLS: undefined, SLMOPS_NPM_REGISTRY: 'http://127.0.0.1:9' },
      });
      expect(run.errors).toEqual([]);
      expect(run.exitCode).toBe(0);
      expect(run.outputs.report).toBe(path.join(run.workspace, 'reports', 'digits.inspect.json'));
      expect(JSON.parse(readFileSync(run.outputs.report ?? '', 'utf8')).smoke).toBeUndefined();
      expect(await readdir(emptyCache)).toEqual([]);
    } finally {
      await rm(emptyCache, { recursive: true, force: true });
    }
  });

  it('fails with exit code 2 and one clear error line, without a stack trace, when the model is missing', async () => {
    const run = await runAction({ action: 'inspect', inputs: { model: 'missing/model.onnx' } });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatch(/^input 'model': no model file at .*missing\/model\.onnx\. Give the path/);
    expect(`${run.stdout}\n${run.stderr}`).not.toMatch(/\n\s+at /);
  });

  it('names the input, the value and the allowed values when an input is invalid', async () => {
    const run = await runAction({ action: 'inspect', inputs: { model: 'm.onnx', run: 'yes' } });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual(["input 'run': 'yes' is not valid. Use true or false"]);
  });

  it('fails with one clear line naming the fixes when onnxruntime cannot be obtained', async () => {
    const emptyCache = await mkdtemp(path.join(os.tmpdir(), 'slmops-offline-'));
    try {
      const run = await runAction({
        action: 'inspect',
        inputs: { model: 'digits.onnx' },
        files: { 'digits.onnx': DIGITS },
        toolCache: emptyCache,
        // Nothing listens on port 9 (discard): the registry is unreachable, as on an air-gapped device.
        env: { SLMOPS_RUNTIME_TARBALLS: undefined, SLMOPS_NPM_REGISTRY: 'http://127.0.0.1:9' },
      });
      expect(run.exitCode).toBe(2);
      expect(run.errors).toHaveLength(1);
      expect(run.errors[0]).toMatch(
        /could not download onnxruntime-node@[\d.]+ from http:\/\/127\.0\.0\.1:9\//,
      );
      expect(run.errors[0]).toContain('SLMOPS_RUNTIME_TARBALLS');
      expect(run.errors[0]).toContain('pre-seeded tool cache');
      expect(`${run.stdout}\n${run.stderr}`).not.toMatch(/\n\s+at /);
    } finally {
      await rm(emptyCache, { recursive: true, force: true });
    }
  }, 60_000);
});
