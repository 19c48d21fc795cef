/**
 * The guest script's protocol, run by this host's Node on x86-64 (no qemu): it must load onnxruntime-node from the
 * folder it is given, run every fed sample and write outputs the host reads back byte for byte.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readOutputs, writeFeeds } from '../../../src/devices/qemu/functional.ts';
import { GUEST_SCRIPT } from '../../../src/devices/qemu/guest-script.ts';
import { readEvalData } from '../../../src/evaluate/eval-data.ts';
import { evalFeeds } from '../../../src/evaluate/feeds.ts';
import { createSession } from '../../../src/inference/session.ts';
import { fixtureModel, tempDir } from '../../helpers/fixtures.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..');
const work = tempDir('slmops-guest-');
afterAll(() => work.remove());

function job(dir: string, extra: Record<string, unknown>) {
  mkdirSync(path.join(dir, 'out'), { recursive: true });
  writeFileSync(path.join(dir, 'guest.cjs'), GUEST_SCRIPT);
  const value = {
    ortDir: repoRoot,
    model: fixtureModel('digits-cnn'),
    feeds: path.join(dir, 'feeds'),
    output: 'logits',
    outDir: path.join(dir, 'out'),
    threads: 1,
    features: [],
    dispatch: [],
    hwcapNames: [],
    hwcap2Names: [],
    stopOnMismatch: true,
    ...extra,
  };
  writeFileSync(path.join(dir, 'job.json'), JSON.stringify(value));
  return [path.join(dir, 'guest.cjs'), path.join(dir, 'job.json')];
}

describe('the guest script', () => {
  it('is plain CommonJS without template literals', () => {
    expect(GUEST_SCRIPT.startsWith("'use strict';")).toBe(true);
    expect(GUEST_SCRIPT).toContain("require('fs')");
    expect(GUEST_SCRIPT).not.toContain('`');
    expect(GUEST_SCRIPT).not.toMatch(/^\s*import /m);
  });

  it('runs the fed samples and writes the same outputs as a session in this process', async () => {
    const dir = path.join(work.path, 'run');
    const evalPath = fixtureModel('digits-cnn', 'eval.jsonl');
    const session = await createSession(fixtureModel('digits-cnn'), { intraOpThreads: 1 });
    const records = readEvalData(evalPath).slice(0, 3);
    const samples = records.map((record) => ({
      record,
      feeds: evalFeeds(session.inputs, [record], evalPath, session.outputs),
    }));
    const expected = [];
    for (const s of samples) expected.push((await session.run(s.feeds, ['logits'])).logits!);
    await session.release();
    const args = job(dir, {});
    await writeFeeds(samples, path.join(dir, 'feeds'));
    const { stderr } = await run(process.execPath, args);
    expect(stderr).toContain('slmops-guest: sample 3/3');
    expect(stderr).toContain('slmops-guest: done');
    const result = JSON.parse(readFileSync(path.join(dir, 'out', 'result.json'), 'utf8'));
    expect(result.onnxruntime).toMatch(/^\d+\.\d+\.\d+$/);
    const outputs = await readOutputs(path.join(dir, 'out', 'outputs.bin'), result.samples);
    expect(outputs.map((o) => o.dims)).toEqual([
      [1, 10],
      [1, 10],
      [1, 10],
    ]);
    for (const [i, o] of outputs.entries()) {
      expect(Array.from(o.data as Float32Array)).toEqual(Array.from(expected[i]!.data as Float32Array));
    }
    const probe = JSON.parse(readFileSync(path.join(dir, 'out', 'probe.json'), 'utf8'));
    expect(probe).toMatchObject({ arch: process.arch, mismatches: [] });
  });

  it('stops before loading onnxruntime when it does not see the flags it was promised', async () => {
    const dir = path.join(work.path, 'mismatch');
    // This x86-64 host's /proc/cpuinfo has no arm64 `Features` line: asimddp is missing from it.
    const args = job(dir, { ortDir: '/nonexistent', features: ['asimddp'], dispatch: ['asimddp'] });
    await writeFeeds([], path.join(dir, 'feeds'));
    await run(process.execPath, args);
    const result = JSON.parse(readFileSync(path.join(dir, 'out', 'result.json'), 'utf8'));
    expect(result.stopped).toBe('features');
    expect(result.mismatches).toContain('cpuinfo lacks asimddp');
  });

  it('reports a model onnxruntime cannot open as an error with exit code 3', async () => {
    const dir = path.join(work.path, 'broken');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'broken.onnx'), 'not a model');
    const args = job(dir, { model: path.join(dir, 'broken.onnx') });
    await writeFeeds([], path.join(dir, 'feeds'));
    const failure = await run(process.execPath, args).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(3);
    expect(failure?.stderr).toMatch(/slmops-guest: error /);
    expect(JSON.parse(readFileSync(path.join(dir, 'out', 'result.json'), 'utf8')).error).toBeTruthy();
  });
});
