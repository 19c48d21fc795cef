import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkoutGitBaseline, parseGitBaseline, resolveBaseline } from '../../src/bench/baseline.ts';
import { resolveBatch, runBench } from '../../src/bench/run-bench.ts';
import { profileCalibrationBlock } from '../../src/cli/calibrate-command.ts';
import { compressModel } from '../../src/compress/compress.ts';
import { floatTensor, node } from '../../src/compress/graph.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { validateDocument } from '../../src/config/load.ts';
import { calibrateHost } from '../../src/devices/calibrate.ts';
import { hostFingerprint } from '../../src/devices/fingerprint.ts';
import { modelProto, valueInfo } from '../../src/devices/probe-models.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { encodeModelProto } from '../../src/onnx/proto.ts';
import { repoRoot } from '../harness/prepare.ts';
import { harnessContext } from '../harness/run-action.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
const saved = { ...process.env };

beforeAll(async () => {
  // Timing, memory and profile run in child processes of a built CLI bundle, as in production.
  const context = await harnessContext();
  process.env.SLMOPS_CHILD_ENTRY = join(context.distDir, 'cli', 'index.js');
  process.env.SLMOPS_ORT_DIR = repoRoot;
  process.env.XDG_CACHE_HOME = join(tmp.path, 'cache');
}, 300_000);

afterAll(() => {
  process.env = saved;
  tmp.remove();
});

const quick = { protocol: 'quick' as const, processes: 1, iterations: 10 };

describe('runBench', () => {
  it('measures a classifier on an emulated profile and predicts the device latency', async () => {
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      profiles: ['raspberry-pi-4'],
      mode: 'emulated',
      ...quick,
    });
    const r = out!.result;
    expect(() => validateDocument('bench', r, 'result')).not.toThrow();
    expect(r.profile).toEqual({ id: 'raspberry-pi-4', mode: 'emulated' });
    expect(r.workload.kind).toBe('generic');
    expect(r.latencyMs.n).toBe(10);
    expect(r.latencyMs.ci95[0]).toBeLessThanOrEqual(r.latencyMs.p50);
    expect(r.predicted?.calibrated).toBe(false);
    expect(r.predicted?.method).toBe('roofline');
    expect(r.predicted?.modelError).toBe('unvalidated');
    expect(r.predicted!.p50Ms).toBeGreaterThan(0);
    expect(r.decode).toBeUndefined();
    expect(r.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
    expect(r.model.params).toBe(38_282);
  }, 120_000);

  it("predicts node by node from a device calibration with node probes: this host's own probes give its own p50; probes of another version fall back to throughputs and say so", async () => {
    const threads = Math.min(4, (await hostFingerprint()).physicalCores);
    const calibration = await calibrateHost({ threads: [threads], budgetMs: 2000 });
    const profile = JSON.parse(readFileSync(join(repoRoot, 'profiles', 'raspberry-pi-4.json'), 'utf8'));
    const block = profileCalibrationBlock(calibration) as { nodeProbes: { version: number } };
    const file = join(tmp.path, 'pi4-calibrated-here.json');
    writeFileSync(file, JSON.stringify({ ...profile, calibration: block }));
    const old = join(tmp.path, 'pi4-old-probes.json');
    const oldBlock = {
      ...block,
      probes: { ...(block as unknown as { probes: object }).probes, version: 1 },
      nodeProbes: { ...block.nodeProbes, version: block.nodeProbes.version + 100 },
    };
    writeFileSync(old, JSON.stringify({ ...profile, id: 'pi4-old-probes', calibration: oldBlock }));
    // Calibrated at a thread count this run does not use.
    const elsewhere = join(tmp.path, 'pi4-other-threads.json');
    const {
      threads: measured,
      nodeProbes: _,
      ...rest
    } = block as unknown as {
      threads: Record<string, unknown>;
      nodeProbes: unknown;
    };
    const otherBlock = { ...rest, threads: { '99': Object.values(measured)[0] } };
    writeFileSync(
      elsewhere,
      JSON.stringify({ ...profile, id: 'pi4-other-threads', calibration: otherBlock }),
    );
    const [here, stale, other] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      profiles: [file, old, elsewhere],
      mode: 'emulated',
      ...quick,
    });
    const r = here!.result;
    expect(() => validateDocument('bench', r, 'result')).not.toThrow();
    expect(r.predicted).toMatchObject({ calibrated: true, method: 'node-probes', modelError: 'unvalidated' });
    expect(r.predicted!.p50Ms).toBeCloseTo(r.latencyMs.p50, 9);
    const s = stale!.result;
    expect(s.predicted).toMatchObject({ calibrated: true, method: 'roofline' });
    expect(s.predicted!.notes!.join('\n')).toMatch(
      /node probes \(version \d+\) .*run slmops calibrate --profile pi4-old-probes/,
    );
    expect(s.predicted!.notes!.join('\n')).toMatch(
      /measured by probes of version 1, this slmops's are version \d+/,
    );
    const o = other!.result;
    expect(o.predicted).toMatchObject({ calibrated: false, method: 'roofline' });
    expect(o.predicted!.notes!.join('\n')).toMatch(
      /was calibrated at 99 thread\(s\), not \d+: predicted from datasheet peaks/,
    );
  }, 120_000);

  it('times a KV-cache decode step against a baseline, interleaved, and reports the ratio with its CI', async () => {
    const kv = fixtureModel('tiny-shakespeare-kv');
    const [out] = await runBench({
      modelPath: kv,
      profiles: ['github-ubuntu-x64'],
      baseline: kv,
      mode: 'native',
      ...quick,
    });
    const r = out!.result;
    expect(r.workload).toMatchObject({ kind: 'decode', sequenceLength: 128, batch: 1 });
    expect(r.decode).toMatchObject({ measured: true });
    expect(r.comparison!.ratioP50).toBeGreaterThan(0.5);
    expect(r.comparison!.ratioP50).toBeLessThan(2);
    expect(r.comparison!.ci95[0]).toBeLessThanOrEqual(r.comparison!.ci95[1]);
    expect(r.predicted).toBeUndefined();
    expect(r.decode).toMatchObject({ msPerToken: expect.any(Number) });
    if (process.platform === 'linux') {
      expect(r.hostLoad!.otherCores).toBeGreaterThanOrEqual(0);
      expect(r.hostLoad!.stealPercent).toBeLessThanOrEqual(100);
    }
  }, 120_000);

  it('measures prefill and perplexity of a language model without a KV cache, and says decode is not measured', async () => {
    const lm = fixtureModel('tiny-shakespeare-lm');
    const [out] = await runBench({
      modelPath: lm,
      profiles: ['github-ubuntu-x64'],
      mode: 'native',
      evalData: fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'),
      inProcess: true,
      ...quick,
    });
    const r = out!.result;
    expect(r.workload.kind).toBe('prefill');
    expect(r.throughput!.tokensPerSec).toBeGreaterThan(0);
    expect(r.decode).toEqual({ measured: false, reason: expect.stringMatching(/no KV cache/) });
    expect(r.quality).toMatchObject({ metric: 'perplexity', reference: null });
    expect(r.quality!.value).toBeCloseTo(5.4465, 3);
  }, 120_000);

  it("compresses an uncompressed baseline with the head's recipe to compare like with like", async () => {
    const variantDir = join(tmp.path, 'head-int8');
    await compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int8'),
      outDir: variantDir,
      fidelity: 'off',
    });
    const [out] = await runBench({
      modelPath: join(variantDir, 'model.onnx'),
      profiles: ['github-ubuntu-x64'],
      baseline: fixtureModel('digits-cnn'),
      mode: 'native',
      ...quick,
    });
    expect(out!.result.variantId).toBe('digits-cnn@int8:per-tensor,sym');
    expect(out!.result.comparison!.baselineVariantId).toBe('digits-cnn@int8:per-tensor,sym');
  }, 120_000);
});

describe('runBench against a baseline', () => {
  it('refuses a baseline that takes other inputs than the model, before measuring anything', async () => {
    const logs: string[] = [];
    await expect(
      runBench({
        modelPath: fixtureModel('digits-cnn'),
        baseline: fixtureModel('tiny-shakespeare-lm'),
        profiles: [],
        mode: 'native',
        ...quick,
        log: (m) => logs.push(m),
      }),
    ).rejects.toThrowError(/the baseline takes other inputs than the model .* so the two cannot be compared/);
    expect(logs.filter((l) => l.startsWith('timing process'))).toEqual([]);
  });

  it("says a sequence longer than the model's context is a workload that does not fit, not a crash", async () => {
    const error = await runBench({
      modelPath: fixtureModel('tiny-shakespeare-lm'),
      profiles: [],
      mode: 'native',
      sequenceLength: 200,
      ...quick,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(
      /onnxruntime cannot run the head model on its prefill at sequence length 200, batch 1 .* --seq within its context/,
    );
  });

  it("says so in the result when --mode native measures a host that is not the profile's device", async () => {
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      profiles: [process.arch === 'arm64' ? 'intel-n100' : 'raspberry-pi-5'],
      mode: 'native',
      ...quick,
    });
    expect(out!.result.profile.mode).toBe('native');
    expect(out!.result.findings?.join('\n')).toMatch(/which is not .*'s CPU: these are this host's figures/);
  });

  it("records a batch given as --dim of the model's batch dim as the workload's batch", async () => {
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      profiles: [],
      dims: { batch: 4 },
      ...quick,
    });
    expect(out!.result.workload).toMatchObject({ batch: 4 });
    await expect(
      runBench({
        modelPath: fixtureModel('digits-cnn'),
        profiles: [],
        dims: { batch: 4 },
        batch: 2,
        ...quick,
      }),
    ).rejects.toThrowError(/--batch 2 and --dim batch=4 disagree/);
  });

  it('binds the batch to the leading input dim whatever its name, and takes a fixed one as the batch', () => {
    const io = (shape: (number | string)[]) => [{ name: 'x', isTensor: true, type: 'float32', shape }];
    const options = { modelPath: 'm.onnx', profiles: [] };
    expect(resolveBatch(io(['N', 16]), { ...options, batch: 64 })).toEqual({ batch: 64, dims: { N: 64 } });
    expect(resolveBatch(io(['N', 16]), { ...options, dims: { N: 4 } })).toEqual({ batch: 4, dims: { N: 4 } });
    expect(resolveBatch(io(['batch_size', 'seq']), options)).toEqual({ batch: 1, dims: { batch_size: 1 } });
    expect(resolveBatch(io([3, 16]), options)).toEqual({ batch: 3, dims: {} });
    const decoder = [
      { name: 'cache_position', isTensor: true, type: 'int64', shape: ['seq'] },
      { name: 'input_ids', isTensor: true, type: 'int64', shape: ['b', 'seq'] },
    ];
    expect(resolveBatch(decoder, { ...options, batch: 2 })).toEqual({ batch: 2, dims: { b: 2 } });
    // A sequence-first export: the dim named for the batch, not the leading one.
    expect(resolveBatch(io(['seq', 'batch', 16]), { ...options, batch: 3 })).toEqual({
      batch: 3,
      dims: { batch: 3 },
    });
    expect(() => resolveBatch(io([3, 16]), { ...options, batch: 2 })).toThrowError(
      /--batch 2: the model fixes its batch at 3/,
    );
    expect(() => resolveBatch(io(['N', 16]), { ...options, batch: 2, dims: { N: 4 } })).toThrowError(
      /--batch 2 and --dim N=4 disagree/,
    );
  });

  it('records a model whose outputs are NaN on the eval data as a finding, with no quality, and keeps the timing', async () => {
    // y = √(−|x| − 1): NaN for every input.
    const proto = modelProto(
      'nan-classifier',
      [
        node('Abs', ['x'], ['a']),
        node('Neg', ['a'], ['n']),
        node('Sub', ['n', 'one'], ['m']),
        node('Sqrt', ['m'], ['y']),
      ],
      [valueInfo('x', DataType.FLOAT, [1, 4])],
      [valueInfo('y', DataType.FLOAT, [1, 4])],
      [floatTensor('one', [], Float32Array.of(1))],
    );
    const model = join(tmp.path, 'nan-classifier.onnx');
    writeFileSync(model, encodeModelProto(proto));
    const evalData = join(tmp.path, 'nan-classifier.jsonl');
    writeFileSync(evalData, `${JSON.stringify({ input: [1, 2, 3, 4], label: 0 })}\n`);
    const [out] = await runBench({ modelPath: model, profiles: [], evalData, inProcess: true, ...quick });
    expect(out!.result.quality).toBeUndefined();
    expect(out!.result.findings).toContainEqual(
      `the model's output "y" holds 4 NaN or infinite values on ${evalData}: no quality metric is reported`,
    );
    expect(out!.result.latencyMs.p50).toBeGreaterThan(0);
    expect(() => validateDocument('bench', out!.result, 'r.json')).not.toThrow();
  });

  it("says when an emulated run used more threads than the profile's device has cores", async () => {
    const profile = JSON.parse(readFileSync(join(repoRoot, 'profiles', 'raspberry-pi-4.json'), 'utf8'));
    const file = join(tmp.path, 'one-core.json');
    writeFileSync(
      file,
      JSON.stringify({ ...profile, id: 'one-core', clusters: [{ ...profile.clusters[0], cores: 1 }] }),
    );
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      profiles: [file],
      mode: 'emulated',
      threads: 2,
      ...quick,
    });
    expect(out!.result.findings).toContainEqual(
      'ran at 2 threads, more than one-core has cores (1): its prediction is for threads the device does not have; use --threads 1 or fewer',
    );
  }, 120_000);

  it('says when it ran more threads than the host has cores', async () => {
    const cores = (await hostFingerprint()).logicalCores;
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      profiles: [],
      threads: cores + 2,
      ...quick,
    });
    expect(out!.result.findings?.join('\n')).toMatch(
      new RegExp(`ran at ${cores + 2} threads on a host with ${cores} logical cores`),
    );
  });

  it('names a git baseline after its path in the repository, not after its temporary checkout', async () => {
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      baseline: 'git:HEAD:test/fixtures/models/digits-cnn/model.onnx',
      profiles: [],
      mode: 'native',
      ...quick,
    });
    expect(out!.result.comparison!.baselineVariantId).toBe('digits-cnn');
  });

  it('measures a variant folder as compress wrote it, under the variant id of its report', async () => {
    const { modelPath } = await compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int8'),
      outDir: join(tmp.path, 'variant-folder'),
      fidelity: 'off',
    });
    const folder = path.dirname(modelPath);
    const [out] = await runBench({ modelPath: folder, profiles: [], mode: 'native', ...quick });
    expect(out!.result.variantId).toBe('digits-cnn@int8:per-tensor,sym');
    expect(out!.result.model.path).toBe(join(folder, 'model.onnx'));
  });

  it('takes a baseline whose folder name has a space, naming it without the space', async () => {
    const folder = join(tmp.path, 'base line');
    mkdirSync(folder, { recursive: true });
    copyFileSync(fixtureModel('digits-cnn'), join(folder, 'model.onnx'));
    const [out] = await runBench({
      modelPath: fixtureModel('digits-cnn'),
      baseline: join(folder, 'model.onnx'),
      profiles: [],
      mode: 'native',
      ...quick,
    });
    expect(out!.result.comparison!.baselineVariantId).toBe('base-line');
  });

  it('names a --dim the model does not have, with the dims it has', async () => {
    await expect(
      runBench({
        modelPath: fixtureModel('tiny-shakespeare-lm'),
        profiles: [],
        dims: { nosuch: 3 },
        ...quick,
      }),
    ).rejects.toThrowError(
      /--dim nosuch: the model's inputs have no symbolic dim of that name \(they have: .+\)/,
    );
  });

  it('refuses two profiles of one id, whose results would overwrite each other', async () => {
    await expect(
      runBench({
        modelPath: fixtureModel('digits-cnn'),
        profiles: ['raspberry-pi-5', 'raspberry-pi-5'],
        ...quick,
      }),
    ).rejects.toThrowError(/two of the profiles given have the id "raspberry-pi-5"/);
  });
});

describe('git baselines', () => {
  function repo(): string {
    const dir = join(tmp.path, 'repo');
    mkdirSync(join(dir, 'models/lm'), { recursive: true });
    copyFileSync(
      fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
      join(dir, 'models/lm/model.onnx'),
    );
    copyFileSync(
      fixtureModel('tiny-shakespeare-lm', 'external/model.onnx.data'),
      join(dir, 'models/lm/model.onnx.data'),
    );
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'model');
    writeFileSync(join(dir, 'models/lm/model.onnx'), 'changed in the working tree');
    return dir;
  }

  /** The git baselines materialized in the temporary folder. */
  const checkouts = () =>
    readdirSync(tmpdir())
      .filter((n) => n.startsWith('slmops-baseline-'))
      .sort();

  it('reads a model and its external data from the repository history, and removes them when released', () => {
    const dir = repo();
    const before = checkouts();
    const baseline = resolveBaseline('git:HEAD:models/lm/model.onnx', dir);
    const model = baseline.path;
    expect(
      readFileSync(model).equals(readFileSync(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'))),
    ).toBe(true);
    const data = path.join(path.dirname(model), 'model.onnx.data');
    expect(readFileSync(data).length).toBe(7_297_536);
    baseline.release();
    expect(existsSync(path.dirname(model))).toBe(false);
    expect(checkouts()).toEqual(before);
  });

  it('leaves a plain path alone', () => {
    const model = fixtureModel('tiny-shakespeare-lm', 'model.onnx');
    const baseline = resolveBaseline(model);
    expect(baseline.path).toBe(model);
    baseline.release();
    expect(existsSync(model)).toBe(true);
  });

  it('names a missing ref and a malformed spec, leaving no checkout behind', () => {
    const dir = join(tmp.path, 'repo');
    const before = checkouts();
    expect(() => checkoutGitBaseline({ ref: 'no-such-ref', path: 'models/lm/model.onnx' }, dir)).toThrowError(
      /cannot read models\/lm\/model\.onnx at no-such-ref.*fetch-depth/,
    );
    expect(() => parseGitBaseline('git:main')).toThrowError(/git:<ref>:<path>/);
    expect(checkouts()).toEqual(before);
  });

  it('refuses a Git LFS pointer with the fix', () => {
    const dir = join(tmp.path, 'lfs');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'model.onnx'),
      'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n',
    );
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'pointer');
    const before = checkouts();
    expect(() => checkoutGitBaseline({ ref: 'HEAD', path: 'model.onnx' }, dir)).toThrowError(
      /Git LFS pointer.*lfs/,
    );
    expect(checkouts()).toEqual(before);
  });
});
