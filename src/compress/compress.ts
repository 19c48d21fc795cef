/**
 * `slmops compress`: apply a recipe's passes to a model, write the variant and its compress-report.json, and check
 * fidelity. The input is never modified; outputs are written to temporary names and renamed, and a failure leaves
 * no partial output behind.
 */
import {
  existsSync,
  mkdirSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { int8Family } from '../bench/predict.ts';
import { validateDocument } from '../config/load.ts';
import { validatorFor } from '../config/schemas.ts';
import type { CompressReport } from '../config/types.ts';
import { modelId as deriveModelId, variantId } from '../contracts/ids.ts';
import { hostFingerprint } from '../devices/fingerprint.ts';
import { ConfigurationError } from '../errors.ts';
import { DataType } from '../onnx/dtypes.ts';
import { readModel } from '../onnx/read.ts';
import { tensorElementCount } from '../onnx/tensor.ts';
import { forEachTensor } from '../onnx/walk.ts';
import { DataFileWriter, writeModel } from '../onnx/write.ts';
import { gzipSize } from '../util/gzip-size.ts';
import { sha256File } from '../util/hash.ts';
import { VERSION } from '../version.ts';
import {
  type FidelityMeasurement,
  gatherTableRows,
  measureFidelity,
  measureFidelityInChild,
} from './fidelity.ts';
import { convertFp16 } from './fp16.ts';
import { Namer } from './graph.ts';
import { bypassWeightIdentities, foldWeightTransposes, hoistConstantWeights } from './hoist-constants.ts';
import { inlineLocalFunctions } from './inline-functions.ts';
import { defaultWorkerCount, KernelPool, PARALLEL_MIN_ELEMENTS } from './kernel-pool.ts';
import type { PassContext, PassOutcome } from './pass.ts';
import { prune } from './prune.ts';
import { quantizeInt4 } from './quantize-int4.ts';
import { quantizeInt8Dynamic } from './quantize-int8.ts';
import { formatRecipeSpec, type PassSpec, type Recipe } from './recipe-spec.ts';

export type FidelityMode = 'auto' | 'on' | 'off';

export interface CompressOptions {
  modelPath: string;
  recipe: Recipe;
  outDir: string;
  evalData?: string;
  /** Model id; default derived from the path (contracts). */
  name?: string;
  fidelity?: FidelityMode;
  /** Eval records (default all) or synthesized inputs (default 8) for the fidelity check. */
  fidelitySamples?: number;
  /** Write the variant even when the recipe changes nothing. */
  allowNoop?: boolean;
  threads?: number;
  /**
   * Worker threads that quantize weights in parallel (default min(available cores, 4); 0: all in this thread). They
   * start only for a pass with at least `parallelMinElements` weights (default PARALLEL_MIN_ELEMENTS).
   */
  workers?: number;
  parallelMinElements?: number;
  /** Run the fidelity check in this process instead of a child (tests and embedding). */
  fidelityInProcess?: boolean;
  log?: (message: string) => void;
}

export interface CompressResult {
  report: CompressReport;
  modelPath: string;
  reportPath: string;
  fidelity?: FidelityMeasurement;
}

/** The output's external data file, beside model.onnx. */
const DATA_FILE = 'model.onnx.data';

/** Whether onnxruntime's int8 kernels on this host multiply u8·s8 pairs in saturating 16 bits (x86 AVX2, no VNNI). */
async function int8SaturatesHere(): Promise<boolean> {
  return process.arch === 'x64' && int8Family((await hostFingerprint()).isaFlags) === 'avx2';
}

/** What compress writes into its output folder. */
const OUTPUT_FILES = ['model.onnx', DATA_FILE, 'compress-report.json'];

const realOrResolved = (path: string): string => (existsSync(path) ? realpathSync(path) : resolve(path));

/** The input is never modified: an output folder whose files would replace an input file is refused. */
function refuseOverwritingInput(outDir: string, inputFiles: string[], subject: string): void {
  const inputs = new Set(inputFiles.map(realOrResolved));
  const clash = OUTPUT_FILES.find((name) => inputs.has(realOrResolved(join(outDir, name))));
  if (clash) {
    throw new ConfigurationError(
      `the output folder ${outDir} holds the input's ${clash}, which compress would replace`,
      {
        subject,
        fix: 'Write the variant to another folder with --out (the input is never modified)',
      },
    );
  }
}

/** Creates the output folder; returns the first folder it created (to remove on failure), if any. */
function makeOutDir(outDir: string): string | undefined {
  try {
    return mkdirSync(outDir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const blocked = code === 'EEXIST' || code === 'ENOTDIR';
    throw new ConfigurationError(`cannot create the output folder (${code})`, {
      subject: outDir,
      fix: blocked
        ? 'A file stands where the folder or one of its parents should be: choose another --out'
        : 'Choose an --out folder you can write to',
    });
  }
}

/** Removes `dir` and its parents up to `top` while they are empty (what a failed run created). */
function removeEmptyFolders(dir: string, top: string): void {
  for (let d = dir; ; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === top || dirname(d) === d) return;
  }
}

/** Above this much weight data, `--fidelity auto` skips the check (two sessions of a big model are slow). */
export const FIDELITY_AUTO_LIMIT_BYTES = 2 ** 30;

async function runPass(ctx: PassContext, spec: PassSpec): Promise<PassOutcome> {
  switch (spec.pass) {
    case 'int8':
      return await quantizeInt8Dynamic(ctx, spec.options, spec.select);
    case 'int4':
      return await quantizeInt4(ctx, spec.options, spec.select);
    case 'fp16':
      return convertFp16(ctx, spec.options, spec.select);
    case 'prune':
      return prune(ctx, spec.options, spec.select);
  }
}

async function fileRef(path: string, base: string): Promise<{ path: string; sha256: string; bytes: number }> {
  return {
    path: relative(base, path) || basename(path),
    sha256: await sha256File(path),
    bytes: statSync(path).size,
  };
}

export async function compressModel(options: CompressOptions): Promise<CompressResult> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const model = readModel(options.modelPath);
  const inlined = inlineLocalFunctions(model.proto);
  if (inlined.calls)
    log(
      `${inlined.calls} calls of ${inlined.functions} model-local functions inlined (as onnxruntime does at load), so the passes see the products in them`,
    );
  for (const why of inlined.skipped) log(`a model-local function left as it is, not compressed: ${why}`);
  const hoisted = hoistConstantWeights(model.proto);
  if (hoisted)
    log(`${hoisted} weights held in Constant nodes moved to initializers, where the passes find them`);
  const bypassed = bypassWeightIdentities(model.proto);
  if (bypassed) log(`${bypassed} Identity nodes of weights bypassed (as onnxruntime does at load)`);
  const transposed = foldWeightTransposes(model);
  if (transposed)
    log(`${transposed} Transpose nodes of weights folded into the weights (as onnxruntime does at load)`);

  let pool: KernelPool | undefined;
  const kernels = (elements: number): KernelPool => {
    const parallel = elements >= (options.parallelMinElements ?? PARALLEL_MIN_ELEMENTS);
    if (!pool || (parallel && pool.workers === 0)) {
      pool?.close().catch(() => {});
      pool = new KernelPool(parallel ? (options.workers ?? defaultWorkerCount()) : 0);
    }
    return pool;
  };
  // A quantizing recipe on a large model: start the workers now, they boot while the model is planned.
  if (options.recipe.passes.some((p) => p.pass === 'int4' || p.pass === 'int8')) {
    let weights = 0;
    forEachTensor(model.proto, ({ tensor }) => {
      if (tensor.dataType === DataType.FLOAT || tensor.dataType === DataType.FLOAT16)
        weights += tensorElementCount(tensor);
    });
    if (weights >= (options.parallelMinElements ?? PARALLEL_MIN_ELEMENTS)) kernels(weights);
  }
  // Workers hold memory of their own: stop them once the passes are done.
  const closeKernels = async (): Promise<void> => {
    await pool?.close();
    pool = undefined;
  };
  try {
    const ctx: PassContext = { model, namer: new Namer(model.proto), log, kernels };
    return await compressWith(options, ctx, started, closeKernels);
  } finally {
    await closeKernels();
  }
}

async function compressWith(
  options: CompressOptions,
  ctx: PassContext,
  started: number,
  closeKernels: () => Promise<void>,
): Promise<CompressResult> {
  const { model, log } = ctx;
  // Before the passes change them: the embedding tables synthesized token ids may index.
  const tableRowsBefore = gatherTableRows(model.proto.graph);
  const spec = formatRecipeSpec(options.recipe);
  const id = options.name ?? deriveModelId(undefined, options.modelPath);
  const inputFiles = [model.path!, ...model.externalFiles().map((f) => f.file)];
  const inputBytes = inputFiles.reduce((n, f) => n + statSync(f).size, 0);
  const passes: CompressReport['passes'] = [];
  const notes: string[] = [];
  let touched = 0;

  // Everything is written into a staging folder beside the output, then moved into place.
  const outDir = resolve(options.outDir);
  refuseOverwritingInput(outDir, inputFiles, options.modelPath);
  const firstCreated = makeOutDir(outDir);
  const staging = join(outDir, `.slmops-staging-${process.pid}-${Date.now()}`);
  mkdirSync(staging);
  let dataFile: DataFileWriter | undefined;
  let finished = false;
  try {
    // A model with external data gets it in the output too: large pass outputs go straight into the data file as
    // they are made, instead of all staying in memory until the model is written.
    if (model.externalFiles().length > 0) dataFile = new DataFileWriter(join(staging, DATA_FILE), DATA_FILE);
    const result = await passesAndWrite();
    finished = true;
    return result;
  } finally {
    dataFile?.discard(); // no-op once written
    rmSync(staging, { recursive: true, force: true });
    if (!finished && firstCreated) removeEmptyFolders(outDir, firstCreated);
  }

  async function passesAndWrite(): Promise<CompressResult> {
    // Compiling the report's schema takes a few hundred ms: do it while the passes wait on worker threads.
    setImmediate(() => {
      try {
        validatorFor('compress');
      } catch {} // validateDocument reports any problem later
    });
    const skipped: string[] = [];
    for (const [i, pass] of options.recipe.passes.entries()) {
      const passStarted = performance.now();
      // The last pass's outputs are final: they go to the output's data file as they are made, and what it leaves
      // alone is copied there while its weights are quantized. (An earlier pass's output may still be replaced.)
      const writer = i === options.recipe.passes.length - 1 ? dataFile : undefined;
      ctx.place = writer ? (t) => writer.place(model, t) : undefined;
      ctx.placeOthers = writer
        ? (replaced) => writer.placeExternal(model, (t) => !replaced.has(t))
        : undefined;
      log(`${pass.pass}: running`);
      const outcome = await runPass(ctx, pass);
      // Passes read weights through the model's scratch buffer: give it back before the next step.
      model.releaseScratch();
      touched += outcome.tensors.length;
      notes.push(...outcome.notes.map((n) => `${pass.pass}: ${n}`));
      for (const s of outcome.skipped) log(`${pass.pass}: skipped ${s.name}: ${s.reason}`);
      skipped.push(...outcome.skipped.map((s) => `${s.name}: ${s.reason}`));
      const chain = options.recipe.passes.length > 1;
      if (chain && outcome.tensors.length === 0 && !options.allowNoop) {
        const after = i > 0 ? ` after ${options.recipe.passes[i - 1]!.pass}` : '';
        throw new ConfigurationError(
          `pass ${i + 1} of "${spec}" (${pass.pass}) finds no weight to change${after}`,
          {
            subject: options.modelPath,
            fix: 'Order the chain so every pass finds float32 weights (fp16 last, as in int4+fp16), or drop the pass',
          },
        );
      }
      passes.push({
        name: pass.pass,
        options: { ...pass.options },
        elapsedMs: Math.round(performance.now() - passStarted),
        tensors: outcome.tensors.map(({ node: _node, ...t }) => t),
      });
    }
    await closeKernels();
    if (touched === 0 && !options.allowNoop) {
      const why = skipped.length ? ` (skipped ${skipped.length}, first ${skipped[0]})` : '';
      throw new ConfigurationError(
        `nothing to compress: recipe "${spec}" finds no weight it can change in this model${why}`,
        {
          subject: options.modelPath,
          fix: "Check the recipe's selection options, or pass --allow-noop to write the model unchanged",
        },
      );
    }

    const written = writeModel(
      model,
      join(staging, 'model.onnx'),
      dataFile ? { dataFile } : { externalData: 'auto' },
    );
    const finalModel = join(outDir, 'model.onnx');
    const finalData = written.dataFile ? join(outDir, written.dataFile.location) : undefined;
    if (finalData) renameSync(written.dataFile!.path, finalData);
    renameSync(written.path, finalModel);
    const outputBytes = written.bytes + (written.dataFile?.bytes ?? 0);
    log(
      `wrote ${finalModel} (${outputBytes} bytes, ${((outputBytes / inputBytes) * 100).toFixed(1)} % of the input)`,
    );

    const fidelity = await checkFidelity(options, finalModel, inputBytes, log, tableRowsBefore);
    const inputRef = await fileRef(model.path!, dirname(model.path!));
    const report: CompressReport = {
      schema: 'slmops.compress/v1',
      tool: { name: 'slmops', version: VERSION },
      modelId: id,
      variantId: variantId(id, options.recipe),
      recipe: { spec, passes: options.recipe.passes.map((p) => JSON.parse(JSON.stringify(p))) },
      input: { ...inputRef, path: options.modelPath, bytes: inputBytes },
      output: {
        // Digests of the bytes as written (the writer hashes them on the way out).
        path: relative(outDir, finalModel),
        sha256: written.sha256,
        bytes: outputBytes,
        ...(finalData && written.dataFile
          ? {
              externalData: [
                {
                  path: relative(outDir, finalData),
                  sha256: written.dataFile.sha256,
                  bytes: written.dataFile.bytes,
                },
              ],
            }
          : {}),
        // Pruning pays off in a compressed download: report it where a recipe prunes.
        ...(options.recipe.passes.some((p) => p.pass === 'prune')
          ? { gzipBytes: await gzipSize([finalModel, ...(finalData ? [finalData] : [])]) }
          : {}),
      },
      sizeRatio: outputBytes / inputBytes,
      passes,
      elapsedMs: Math.round(performance.now() - started),
      fidelity: fidelity.report,
      notes,
    };
    validateDocument('compress', report, 'compress-report.json');
    const reportPath = join(outDir, 'compress-report.json');
    writeFileSync(join(staging, 'compress-report.json'), `${JSON.stringify(report, null, 2)}\n`);
    renameSync(join(staging, 'compress-report.json'), reportPath);
    return {
      report,
      modelPath: finalModel,
      reportPath,
      ...(fidelity.measurement ? { fidelity: fidelity.measurement } : {}),
    };
  }
}

async function checkFidelity(
  options: CompressOptions,
  candidate: string,
  weightBytes: number,
  log: (m: string) => void,
  intHighOf: Record<string, number>,
): Promise<{ report: CompressReport['fidelity']; measurement?: FidelityMeasurement }> {
  const mode = options.fidelity ?? 'auto';
  if (mode === 'off')
    return { report: { status: 'skipped', reason: 'fidelity check turned off (--fidelity off)' } };
  if (mode === 'auto' && weightBytes > FIDELITY_AUTO_LIMIT_BYTES) {
    const reason = `skipped above 1 GB of weights (${(weightBytes / 2 ** 30).toFixed(1)} GiB); use --fidelity on to force it`;
    log(`fidelity: ${reason}`);
    return { report: { status: 'skipped', reason } };
  }
  const spec = {
    reference: resolve(options.modelPath),
    candidate,
    ...(options.evalData ? { evalData: resolve(options.evalData) } : {}),
    samples: options.fidelitySamples ?? (options.evalData ? Number.MAX_SAFE_INTEGER : 8),
    threads: options.threads ?? 1,
    intHighOf,
  };
  log('fidelity: running the original and the variant in onnxruntime');
  const saturating = options.recipe.passes.some(
    (p) => p.pass === 'int8' && p.options.perChannel && !p.options.reduceRange,
  );
  if (saturating && (await int8SaturatesHere())) {
    log(
      "fidelity: this host's int8 kernels (x86 without VNNI) can saturate full-range per-channel weights, which the device's may not: if fidelity looks poor here, try int8:per-channel,reduce-range",
    );
  }
  try {
    const m = options.fidelityInProcess ? await measureFidelity(spec) : await measureFidelityInChild(spec);
    if (m.nonFinite.candidate > m.nonFinite.reference) {
      const reason = `the variant's output "${m.output}" holds ${m.nonFinite.candidate} NaN or infinite values over ${m.samples} samples, the original's ${m.nonFinite.reference}: the variant is broken for these inputs`;
      log(`fidelity: failed: ${reason}`);
      return { measurement: m, report: { status: 'failed', reason } };
    }
    return {
      measurement: m,
      report: {
        status: 'ran',
        samples: m.samples,
        maxAbsDiff: Number.isFinite(m.maxAbsDiff) ? m.maxAbsDiff : Number.MAX_VALUE,
        cosine: Math.max(-1, Math.min(1, m.cosine)),
        top1Agreement: m.top1Agreement,
        ...(m.metric ? { metric: m.metric } : {}),
      },
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`fidelity: failed: ${reason}`);
    return { report: { status: 'failed', reason } };
  }
}
