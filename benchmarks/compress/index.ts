/**
 * compress: how `slmops compress` compares with onnxruntime's own Python tools, run as a user runs them.
 *
 *   1. Quality on the shared fixtures (tiny-shakespeare-lm, digits-cnn): size and perplexity / errors of our int8,
 *      int8:per-channel, int4:block=32 and fp16 against ORT's quantize_dynamic, MatMulNBitsQuantizer and float16
 *      converter, all evaluated by the same code (slmops' `measureFidelity`).
 *   2. The KV-cache decoder tiny-shakespeare-kv: int4 size and perplexity, and for each variant how far a
 *      token-by-token decode loop drifts from the variant's own full pass.
 *   3. Speed and peak RSS of whole processes on a generated ~240 M-parameter decoder with external data.
 *   4. (--large) Peak RSS of int4 on a generated ~1.3 B-parameter decoder (d 2048, 20 layers).
 *
 * Our CLI is bundled from src/cli/main.ts and spawned as `node --import rss-reporter.mjs slmops-cli.mjs compress …`.
 * ORT's tools run (from ort_quantize.py beside this file) only when `python3 -c "import onnxruntime"` works;
 * without Python our own figures are still printed, with the ORT bars taken from the fixtures' READMEs.
 * Targets missed print MISSED; the exit code is 0 either way (benchmarks print, they do not gate).
 *
 *   node benchmarks/run.mjs compress [--dir /tmp/slmops-compress-bench] [--parts 1,2,3] [--runs 3] [--large]
 *                                    [--large-layers 20] [--regenerate] [--clean]
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { type FidelityMeasurement, measureFidelity } from '../../src/compress/fidelity.ts';
import { node } from '../../src/compress/graph.ts';
import type { CompressReport } from '../../src/config/types.ts';
import { greedyDecode } from '../../src/evaluate/decode-loop.ts';
import { readEvalData } from '../../src/evaluate/eval-data.ts';
import { isPastInput } from '../../src/evaluate/lm-inputs.ts';
import { createSession, type TensorValue } from '../../src/inference/session.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { OnnxModel, type TensorReadOptions } from '../../src/onnx/model.ts';
import {
  createTensorProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../src/onnx/proto.ts';
import { writeModel } from '../../src/onnx/write.ts';

// ---------------------------------------------------------------------------------------------------------------
// Arguments, paths, output helpers

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const has = (name: string): boolean => args.includes(`--${name}`);

/** The repository: this bundle lives in benchmarks/.out/. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HERE = join(ROOT, 'benchmarks', 'compress');
const CLI = join(ROOT, 'benchmarks', '.out', 'slmops-cli.mjs');
const REPORTER_URL = pathToFileURL(join(HERE, 'rss-reporter.mjs')).href;
const ORT_SCRIPT = join(HERE, 'ort_quantize.py');
const DIR = resolve(flag('dir', '/tmp/slmops-compress-bench'));
const RUNS = Math.max(1, Number(flag('runs', '3')));
const PARTS = new Set(
  flag('parts', has('large') ? '1,2,3,4' : '1,2,3')
    .split(',')
    .map((p) => p.trim()),
);
const MB = 1e6;
const GB = 1e9;

const fixture = (name: string, file = 'model.onnx'): string =>
  join(ROOT, 'test', 'fixtures', 'models', name, file);

function out(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Paths inside the repository are shown relative to it (the commands are run from the repository root). */
function show(path: string): string {
  const rel = relative(ROOT, path);
  return rel.startsWith('..') ? path : rel;
}

/** `align`: one letter per column, l or r (default: the first column left, the others right). */
function table(header: string[], rows: string[][], align = ''): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = (i: number): boolean => (align[i] ?? (i === 0 ? 'l' : 'r')) === 'l';
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (left(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  out(line(header));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out(line(r));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmtBytes = (n: number): string => n.toLocaleString('en-US');
const fmtMb = (kb: number): string => `${((kb * 1024) / MB).toFixed(0)} MB`;
const pct = (v: number, digits = 2): string => `${v >= 0 ? '+' : ''}${v.toFixed(digits)} %`;
const okText = (ok: boolean): string => (ok ? 'ok' : 'MISSED');

interface Verdict {
  part: string;
  what: string;
  measured: string;
  target: string;
  ok: boolean;
}
const verdicts: Verdict[] = [];
function verdict(part: string, what: string, measured: string, target: string, ok: boolean): string {
  verdicts.push({ part, what, measured, target, ok });
  return okText(ok);
}
const notes: string[] = [];

// ---------------------------------------------------------------------------------------------------------------
// Running our CLI and ORT's tools as whole processes

interface ProcessRun {
  ok: boolean;
  status: number | null;
  /** Wall time measured here around spawnSync. */
  seconds: number;
  /** Peak RSS of the main process (KiB). */
  maxRssKb: number;
  /** Peak RSS of slmops' fidelity child process, when one ran (KiB). */
  childRssKb?: number;
  stdout: string;
  stderr: string;
  command: string;
}

let logCounter = 0;

/** `node --import rss-reporter.mjs benchmarks/.out/slmops-cli.mjs <cliArgs>`, from the repository root. */
function runOurs(cliArgs: string[]): ProcessRun {
  const log = join(DIR, `.rss-${process.pid}-${logCounter++}.log`);
  rmSync(log, { force: true });
  const argv = ['--import', REPORTER_URL, CLI, ...cliArgs];
  const env = {
    ...process.env,
    // The fidelity check runs in a child process of the same entry: it loads the reporter through NODE_OPTIONS.
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--import=${REPORTER_URL}`].filter(Boolean).join(' '),
    SLMOPS_RSS_LOG: log,
  };
  const started = performance.now();
  const r = spawnSync(process.execPath, argv, { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 256 << 20 });
  const seconds = (performance.now() - started) / 1000;
  let maxRssKb = 0;
  let childRssKb: number | undefined;
  if (existsSync(log)) {
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      const [role, , kb] = line.split(' ');
      if (role === 'main') maxRssKb = Math.max(maxRssKb, Number(kb));
      else childRssKb = Math.max(childRssKb ?? 0, Number(kb));
    }
    rmSync(log, { force: true });
  } else {
    const m = /SLMOPS_MAXRSS_KB=(\d+)/.exec(r.stderr ?? '');
    if (m) maxRssKb = Number(m[1]);
  }
  return {
    ok: r.status === 0,
    status: r.status,
    seconds,
    maxRssKb,
    ...(childRssKb === undefined ? {} : { childRssKb }),
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    command: `node --import ${show(fileURLToPath(REPORTER_URL))} ${show(CLI)} ${cliArgs.map(show).join(' ')}`,
  };
}

interface PythonRun extends ProcessRun {
  /** Load + quantize + save, timed inside Python (excludes interpreter start and imports). */
  innerSeconds: number;
  bytes: number;
}

type OrtMode = 'int8' | 'int8-per-channel' | 'int4' | 'fp16';

function runOrt(mode: OrtMode, src: string, dst: string, external: boolean): PythonRun {
  const argv = [ORT_SCRIPT, mode, src, dst, ...(external ? ['external'] : [])];
  const started = performance.now();
  const r = spawnSync('python3', argv, { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 << 20 });
  const seconds = (performance.now() - started) / 1000;
  const line = (r.stdout ?? '')
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  const parsed = line
    ? (JSON.parse(line) as { seconds: number; maxRssKb: number; bytes: number })
    : undefined;
  return {
    ok: r.status === 0 && parsed !== undefined,
    status: r.status,
    seconds,
    maxRssKb: parsed?.maxRssKb ?? 0,
    innerSeconds: parsed?.seconds ?? Number.NaN,
    bytes: parsed?.bytes ?? 0,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    command: `python3 ${argv.map(show).join(' ')}`,
  };
}

function lastLines(text: string, n = 4): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

function pythonStatus(): { available: boolean; detail: string } {
  const r = spawnSync(
    'python3',
    ['-c', 'import onnxruntime, onnx; print(onnxruntime.__version__, onnx.__version__)'],
    {
      encoding: 'utf8',
    },
  );
  if (r.error || r.status !== 0)
    return { available: false, detail: r.error ? r.error.message : lastLines(r.stderr, 1) };
  const [ort, onnx] = r.stdout.trim().split(' ');
  return { available: true, detail: `python onnxruntime ${ort}, onnx ${onnx}` };
}

/**
 * Bundles the CLI. Other benchmarks bundle the same entry to the same file: write to a temporary name and rename,
 * so a process started meanwhile never reads a half-written bundle.
 */
async function buildCli(): Promise<void> {
  mkdirSync(dirname(CLI), { recursive: true });
  const result = await build({
    entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')],
    outfile: CLI,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['onnxruntime-node'],
    banner: {
      js: "import { createRequire as __slmopsRequire } from 'node:module'; const require = __slmopsRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  const file = result.outputFiles.find((f) => f.path === CLI) ?? result.outputFiles[0]!;
  const tmp = `${CLI}.tmp-${process.pid}`;
  writeFileSync(tmp, file.contents);
  renameSync(tmp, CLI);
}

function parseReport(run: ProcessRun): CompressReport | undefined {
  if (!run.ok) return undefined;
  try {
    return JSON.parse(run.stdout) as CompressReport;
  } catch {
    return undefined;
  }
}

function dirBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f === 'model.onnx' || f === 'model.onnx.data')
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

function inputBytes(model: string): number {
  const data = `${model}.data`;
  return statSync(model).size + (existsSync(data) ? statSync(data).size : 0);
}

function slug(recipe: string): string {
  return recipe.replace(/[^\w]+/g, '_');
}

// ---------------------------------------------------------------------------------------------------------------
// Part 1: quality against ORT's tools

const RECIPES: [recipe: string, ortMode: OrtMode][] = [
  ['int8', 'int8'],
  ['int8:per-channel', 'int8-per-channel'],
  ['int4:block=32', 'int4'],
  ['fp16', 'fp16'],
];

/** ORT's figures as the fixtures' READMEs state them: the bars used only when Python is not available. */
const README_ANCHORS: Record<
  string,
  Record<string, { bytes: number; deltaPct?: number; errors?: number }>
> = {
  'tiny-shakespeare-lm': {
    int8: { bytes: 1_959_972, deltaPct: 0.07 },
    'int8:per-channel': { bytes: 1_994_938, deltaPct: 0.06 },
    'int4:block=32': { bytes: 1_367_172, deltaPct: 0.7 },
    fp16: { bytes: 3_741_436, deltaPct: 0.0 },
  },
  'digits-cnn': {
    int8: { bytes: 44_059, errors: 9 },
    'int8:per-channel': { bytes: 44_429, errors: 8 },
    'int4:block=32': { bytes: 154_436, errors: 8 },
    fp16: { bytes: 78_482, errors: 8 },
  },
};

interface Quality {
  bytes: number;
  ratio: number;
  /** LM: perplexity change in %; classifier: misclassified items. */
  value: number;
  reference: number;
  metric: 'perplexity' | 'accuracy';
  samples: number;
  top1Agreement: number;
}

function qualityOf(metric: { name: string; value: number; reference: number }, samples: number): number {
  return metric.name === 'perplexity'
    ? (metric.value / metric.reference - 1) * 100
    : Math.round((1 - metric.value) * samples);
}

function fmtQuality(q: Quality): string {
  if (q.metric === 'perplexity') return `${q.value >= 0 ? '+' : ''}${q.value.toFixed(3)} %`;
  return `${q.value}/${q.samples}`;
}

async function partQuality(python: boolean): Promise<void> {
  out(
    "## 1. Quality: our compress vs onnxruntime's Python tools, evaluated by the same code (measureFidelity)",
  );
  const cases = ['tiny-shakespeare-lm', 'digits-cnn'];
  let shownOurs = false;
  let shownOrt = false;
  for (const name of cases) {
    const model = fixture(name);
    const evalData = fixture(name, 'eval.jsonl');
    const inBytes = inputBytes(model);
    const rows: string[][] = [];
    let fp32Metric = '';
    for (const [recipe, ortMode] of RECIPES) {
      const base = join(DIR, 'quality', name, slug(recipe));
      const oursDir = join(base, 'ours');
      rmSync(oursDir, { recursive: true, force: true });
      const run = runOurs([
        'compress',
        model,
        '--recipe',
        recipe,
        '--out',
        oursDir,
        '--fidelity',
        'on',
        '--eval',
        evalData,
        '--json',
      ]);
      if (!shownOurs) {
        out(`ours: ${run.command}`);
        shownOurs = true;
      }
      const report = parseReport(run);
      let ours: Quality | undefined;
      if (report?.fidelity.status === 'ran' && report.fidelity.metric) {
        const m = report.fidelity.metric;
        const samples = report.fidelity.samples ?? 0;
        ours = {
          bytes: report.output.bytes,
          ratio: report.sizeRatio,
          value: qualityOf(m, samples),
          reference: m.reference,
          metric: m.name === 'perplexity' ? 'perplexity' : 'accuracy',
          samples,
          top1Agreement: report.fidelity.top1Agreement ?? Number.NaN,
        };
        fp32Metric =
          m.name === 'perplexity'
            ? `fp32 perplexity ${m.reference.toFixed(4)}`
            : `fp32 accuracy ${(m.reference * 100).toFixed(2)} % (${Math.round((1 - m.reference) * samples)}/${samples} errors)`;
      } else {
        notes.push(
          `part 1: our ${recipe} on ${name} failed: ${run.ok ? `fidelity ${report?.fidelity.status}` : lastLines(run.stderr)}`,
        );
      }

      let ort: Quality | undefined;
      let ortSource = 'README';
      if (python) {
        const ortDir = join(base, 'ort');
        rmSync(ortDir, { recursive: true, force: true });
        mkdirSync(ortDir, { recursive: true });
        const ortPath = join(ortDir, 'model.onnx');
        const r = runOrt(ortMode, model, ortPath, false);
        if (!shownOrt) {
          out(
            `ORT:  ${r.command}   (then measureFidelity(reference fp32, candidate ORT file, eval.jsonl, all samples, 1 thread))`,
          );
          shownOrt = true;
        }
        if (r.ok) {
          try {
            const m: FidelityMeasurement = await measureFidelity({
              reference: model,
              candidate: ortPath,
              evalData,
              samples: Number.MAX_SAFE_INTEGER,
              threads: 1,
            });
            ort = {
              bytes: r.bytes,
              ratio: r.bytes / inBytes,
              value: qualityOf(m.metric!, m.samples),
              reference: m.metric!.reference,
              metric: m.metric!.name,
              samples: m.samples,
              top1Agreement: m.top1Agreement,
            };
            ortSource = 'measured';
          } catch (error) {
            notes.push(
              `part 1: evaluating ORT's ${ortMode} file of ${name} failed: ${(error as Error).message}`,
            );
          }
        } else {
          notes.push(
            `part 1: ORT's ${ortMode} on ${name} failed (exit ${r.status}): ${lastLines(r.stderr, 2)}`,
          );
        }
      }
      const anchor = README_ANCHORS[name]![recipe]!;
      const barBytes = ort?.bytes ?? anchor.bytes;
      const isLm = name === 'tiny-shakespeare-lm';
      const barQuality = ort?.value ?? (isLm ? anchor.deltaPct! : anchor.errors!);
      const src = ortSource === 'measured' ? '' : ' (README)';
      let sizeOk: boolean | undefined;
      let qualityOk: boolean | undefined;
      let bar: string;
      if (!ours) {
        bar = 'our run failed';
        verdict('1', `${name} ${recipe}`, 'failed', 'runs', false);
      } else if (!isLm && recipe.startsWith('int4')) {
        const drop = (ours.reference - (1 - ours.value / ours.samples)) * 100;
        sizeOk = ours.ratio < 0.5;
        qualityOk = drop <= 0.5;
        const ortUnchanged = ort ? Math.abs(ort.ratio - 1) < 0.01 : undefined;
        bar = `ratio < 0.5 (ORT ${ort ? `${ort.ratio.toFixed(3)}: ${ortUnchanged ? 'changes nothing' : 'changed the model'}` : 'n/a'}); accuracy drop ${drop.toFixed(2)} pt ≤ 0.5`;
        verdict('1', `${name} ${recipe} size ratio`, ours.ratio.toFixed(3), '< 0.5 (ORT skips Gemm)', sizeOk);
        verdict('1', `${name} ${recipe} accuracy drop`, `${drop.toFixed(2)} pt`, '≤ 0.5 pt', qualityOk);
      } else {
        sizeOk = ours.bytes <= barBytes * 1.02;
        qualityOk = isLm ? ours.value <= barQuality + 0.05 : ours.value <= barQuality + 1;
        bar = isLm
          ? `bytes ≤ ${fmtBytes(Math.floor(barBytes * 1.02))}${src}; Δppl ≤ ${(barQuality + 0.05).toFixed(3)} %${src}`
          : `bytes ≤ ${fmtBytes(Math.floor(barBytes * 1.02))}${src}; errors ≤ ${barQuality + 1}${src}`;
        verdict(
          '1',
          `${name} ${recipe} size`,
          fmtBytes(ours.bytes),
          `≤ ORT ${fmtBytes(barBytes)}${src} + 2 %`,
          sizeOk,
        );
        verdict(
          '1',
          `${name} ${recipe} ${isLm ? 'Δ perplexity' : 'errors'}`,
          fmtQuality(ours),
          isLm ? `≤ ORT ${pct(barQuality, 3)}${src} + 0.05 pt` : `≤ ORT ${barQuality}${src} + 1`,
          qualityOk,
        );
      }
      rows.push([
        recipe,
        ours ? fmtBytes(ours.bytes) : 'failed',
        ours ? ours.ratio.toFixed(3) : '',
        ours ? fmtQuality(ours) : '',
        ours ? ours.top1Agreement.toFixed(4) : '',
        ort ? fmtBytes(ort.bytes) : python ? 'failed' : 'n/a',
        ort ? ort.ratio.toFixed(3) : '',
        ort ? fmtQuality(ort) : '',
        ort ? ort.top1Agreement.toFixed(4) : '',
        bar,
        sizeOk === undefined ? 'MISSED' : okText(sizeOk && (qualityOk ?? true)),
      ]);
    }
    out();
    out(`${name} (${fmtBytes(inBytes)} bytes fp32; ${fp32Metric})`);
    const qName = name === 'tiny-shakespeare-lm' ? 'Δ ppl' : 'errors';
    table(
      [
        'recipe',
        'ours bytes',
        'ratio',
        `ours ${qName}`,
        'top-1 agr',
        'ORT bytes',
        'ratio',
        `ORT ${qName}`,
        'top-1 agr',
        'bar',
        'verdict',
      ],
      rows,
      'lrrrrrrrrll',
    );
  }
  if (!python)
    out(
      "(python3 with onnxruntime is not available: ORT columns n/a, bars are the figures in the fixtures' READMEs)",
    );
  out();
}

// ---------------------------------------------------------------------------------------------------------------
// Part 2: the KV-cache decoder

/** Max |Δlogit| between a greedy decode loop (prompt, then `steps` tokens one at a time) and a full pass. */
async function decodeVersusFullPass(
  modelPath: string,
  prompt: number[],
  steps: number,
): Promise<{ maxAbs: number; tokens: number[] }> {
  const session = await createSession(modelPath, { intraOpThreads: 1 });
  try {
    const run = await greedyDecode(session, prompt, steps);
    const all = [...prompt, ...run.tokens];
    const feeds: Record<string, TensorValue> = {};
    for (const input of session.inputs) {
      if (/input_ids/.test(input.name)) {
        feeds[input.name] = {
          type: 'int64',
          dims: [1, all.length],
          data: BigInt64Array.from(all, (v) => BigInt(v)),
        };
      } else if (/attention_mask/.test(input.name)) {
        feeds[input.name] = {
          type: 'int64',
          dims: [1, all.length],
          data: new BigInt64Array(all.length).fill(1n),
        };
      } else if (/position_ids/.test(input.name)) {
        feeds[input.name] = {
          type: 'int64',
          dims: [1, all.length],
          data: BigInt64Array.from(all, (_, i) => BigInt(i)),
        };
      } else if (isPastInput(input.name)) {
        const dims = input.shape.map((d, axis) => (typeof d === 'number' ? d : axis === 0 ? 1 : 0));
        feeds[input.name] = { type: 'float32', dims, data: new Float32Array(0) };
      }
    }
    const logitsName = session.outputs.find((o) => /logits/.test(o.name))?.name ?? session.outputs[0]!.name;
    const full = (await session.run(feeds, [logitsName]))[logitsName]!;
    const vocab = full.dims[full.dims.length - 1]!;
    const data = full.data as Float32Array;
    let maxAbs = 0;
    run.stepLogits.forEach((logits, step) => {
      const position = prompt.length - 1 + step;
      for (let v = 0; v < vocab; v++)
        maxAbs = Math.max(maxAbs, Math.abs(logits[v]! - data[position * vocab + v]!));
    });
    return { maxAbs, tokens: run.tokens };
  } finally {
    await session.release();
  }
}

async function partKv(): Promise<void> {
  out('## 2. KV-cache decoder tiny-shakespeare-kv (Gemm projections)');
  const model = fixture('tiny-shakespeare-kv');
  const evalData = fixture('tiny-shakespeare-kv', 'eval.jsonl');
  const first = readEvalData(evalData)[0]!;
  const prompt = first.kind === 'tokens' ? first.inputIds : [];
  const steps = 32;
  const variants: { recipe: string; path: string; report?: CompressReport; command?: string }[] = [
    { recipe: 'fp32 (original)', path: model },
  ];
  for (const recipe of ['int8', 'int4:block=32', 'fp16']) {
    const dir = join(DIR, 'kv', slug(recipe));
    rmSync(dir, { recursive: true, force: true });
    const fidelity = recipe.startsWith('int4')
      ? ['--fidelity', 'on', '--eval', evalData]
      : ['--fidelity', 'off'];
    const run = runOurs(['compress', model, '--recipe', recipe, '--out', dir, ...fidelity, '--json']);
    const report = parseReport(run);
    if (!report) notes.push(`part 2: our ${recipe} on tiny-shakespeare-kv failed: ${lastLines(run.stderr)}`);
    variants.push({
      recipe,
      path: join(dir, 'model.onnx'),
      ...(report ? { report } : {}),
      command: run.command,
    });
  }
  for (const v of variants) if (v.command) out(`ours: ${v.command}`);
  out(
    `decode check: greedyDecode(prompt = eval window 0 (${prompt.length} tokens), ${steps} steps) vs one full pass over the same ${prompt.length + steps} tokens, 1 thread`,
  );
  const int4 = variants.find((v) => v.recipe.startsWith('int4'))?.report;
  const rows: string[][] = [];
  for (const v of variants) {
    if (v.recipe !== 'fp32 (original)' && !v.report) {
      rows.push([v.recipe, 'failed', '', '', '', '']);
      continue;
    }
    let decode: { maxAbs: number; tokens: number[] } | undefined;
    try {
      decode = await decodeVersusFullPass(v.path, prompt, steps);
    } catch (error) {
      notes.push(`part 2: decode check of ${v.recipe} failed: ${(error as Error).message}`);
    }
    const limit = v.recipe.startsWith('fp32') ? 1e-4 : v.recipe === 'int8' ? undefined : 1e-3;
    let check = 'reported (int8 dynamic quantizes activations per call: differs by design)';
    if (limit !== undefined) {
      const ok = decode !== undefined && decode.maxAbs <= limit;
      check = `≤ ${limit.toExponential(0)}: ${verdict('2', `kv ${v.recipe} decode vs full pass`, decode ? decode.maxAbs.toExponential(2) : 'failed', `≤ ${limit.toExponential(0)}`, ok)}`;
    }
    const f = v.report?.fidelity;
    const metric = f?.status === 'ran' ? f.metric : undefined;
    rows.push([
      v.recipe,
      v.report ? fmtBytes(v.report.output.bytes) : fmtBytes(inputBytes(model)),
      v.report ? v.report.sizeRatio.toFixed(3) : '1.000',
      metric ? pct((metric.value / metric.reference - 1) * 100, 3) : '',
      decode ? decode.maxAbs.toExponential(2) : 'failed',
      check,
    ]);
  }
  table(['variant', 'bytes', 'ratio', 'Δ ppl', 'max |Δlogit| decode vs full', 'check'], rows, 'lrrrrl');
  if (int4?.fidelity.status === 'ran' && int4.fidelity.metric) {
    const m = int4.fidelity.metric;
    const delta = (m.value / m.reference - 1) * 100;
    out(
      `int4:block=32: size ratio ${int4.sizeRatio.toFixed(3)} (≤ 0.25: ${verdict('2', 'kv int4 size ratio', int4.sizeRatio.toFixed(3), '≤ 0.25', int4.sizeRatio <= 0.25)}), ` +
        `perplexity ${m.value.toFixed(4)} vs ${m.reference.toFixed(4)} = ${pct(delta, 3)} (≤ +1.5 %: ${verdict('2', 'kv int4 Δ perplexity', pct(delta, 3), '≤ +1.5 %', delta <= 1.5)})`,
    );
  } else {
    verdict('2', 'kv int4 size and perplexity', 'failed', 'ratio ≤ 0.25, Δppl ≤ +1.5 %', false);
  }
  out();
}

// ---------------------------------------------------------------------------------------------------------------
// Parts 3 and 4: a generated decoder-shaped model

interface DecoderSpec {
  d: number;
  layers: number;
  vocab: number;
  ffA: number;
  ffB: number;
  seed: number;
}

/** A model whose large tensors have no values until the writer asks for them: generation stays one tensor big. */
class LazyModel extends OnnxModel {
  constructor(
    proto: ModelProto,
    dir: string,
    private readonly generators: Map<TensorProto, () => Uint8Array>,
  ) {
    super(proto, dir, undefined, 0);
  }

  override tensorBytes(tensor: TensorProto, options: TensorReadOptions = {}): Uint8Array {
    const generate = this.generators.get(tensor);
    return generate ? generate() : super.tensorBytes(tensor, options);
  }
}

function paramCount(s: DecoderSpec): number {
  const ln = 2 * s.d;
  return s.vocab * s.d * 2 + s.layers * (2 * s.d * s.ffA + 2 * s.d * s.ffB + 2 * ln) + ln;
}

/** Writes the decoder of `spec` to `path` (+ `path`.data) with slmops' writer; weights ~N(0, 0.02), seeded. */
function generateDecoder(spec: DecoderSpec, path: string): void {
  const { d, layers, vocab, ffA, ffB } = spec;
  const initializer: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  const generators = new Map<TensorProto, () => Uint8Array>();
  let largest = 0;
  let scratch = new Float32Array(0);
  const fill = (count: number, kind: 'normal' | 'ones' | 'zeros', seed: number): Uint8Array => {
    if (scratch.length < count) scratch = new Float32Array(Math.max(count, largest));
    const v = scratch.subarray(0, count);
    if (kind === 'ones') v.fill(1);
    else if (kind === 'zeros') v.fill(0);
    else {
      // mulberry32 uniforms → Box-Muller normals, σ = 0.02
      let a = seed >>> 0;
      const uniform = (): number => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
      };
      for (let i = 0; i < count; i += 2) {
        const r = 0.02 * Math.sqrt(-2 * Math.log(uniform()));
        const theta = 2 * Math.PI * uniform();
        v[i] = r * Math.cos(theta);
        if (i + 1 < count) v[i + 1] = r * Math.sin(theta);
      }
    }
    return new Uint8Array(v.buffer, 0, count * 4);
  };
  const weight = (name: string, dims: number[], kind: 'normal' | 'ones' | 'zeros'): string => {
    const t = createTensorProto({ name, dataType: DataType.FLOAT, dims });
    const count = dims.reduce((a, b) => a * b, 1);
    largest = Math.max(largest, count);
    const seed = spec.seed * 1_000_003 + initializer.length * 7919;
    generators.set(t, () => fill(count, kind, seed));
    initializer.push(t);
    return name;
  };
  const layerNorm = (x: string, prefix: string): string => {
    const g = weight(`${prefix}.weight`, [d], 'ones');
    const b = weight(`${prefix}.bias`, [d], 'zeros');
    const y = `${prefix}.out`;
    nodes.push(
      node('LayerNormalization', [x, g, b], [y], {
        name: prefix,
        attributes: { axis: -1, epsilon: 1e-5 },
        floats: ['epsilon'],
      }),
    );
    return y;
  };
  const matmul = (x: string, name: string, k: number, n: number): string => {
    const w = weight(`${name}.weight`, [k, n], 'normal');
    nodes.push(node('MatMul', [x, w], [`${name}.out`], { name }));
    return `${name}.out`;
  };
  const mlp = (h: string, prefix: string, inner: number): string => {
    const n = layerNorm(h, `${prefix}.ln`);
    const up = matmul(n, `${prefix}.up`, d, inner);
    nodes.push(node('Relu', [up], [`${prefix}.relu`], { name: `${prefix}.relu` }));
    const down = matmul(`${prefix}.relu`, `${prefix}.down`, inner, d);
    nodes.push(node('Add', [h, down], [`${prefix}.res`], { name: `${prefix}.add` }));
    return `${prefix}.res`;
  };
  const embed = weight('embed.weight', [vocab, d], 'normal');
  nodes.push(node('Gather', [embed, 'input_ids'], ['embed.out'], { name: 'embed', attributes: { axis: 0 } }));
  let h = 'embed.out';
  for (let l = 0; l < layers; l++) {
    h = mlp(h, `layers.${l}.a`, ffA);
    h = mlp(h, `layers.${l}.b`, ffB);
  }
  const final = layerNorm(h, 'final_ln');
  const headW = weight('lm_head.weight', [d, vocab], 'normal');
  nodes.push(node('MatMul', [final, headW], ['logits'], { name: 'lm_head' }));
  const io = (name: string, elemType: number, dims: (number | string)[]): ValueInfoProto => ({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x })) },
      },
    },
  });
  const proto: ModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'slmops-benchmark',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      name: 'decoder',
      node: nodes,
      initializer,
      sparseInitializer: [],
      input: [io('input_ids', DataType.INT64, ['batch', 'seq'])],
      output: [io('logits', DataType.FLOAT, ['batch', 'seq', vocab])],
      valueInfo: [],
    },
  };
  mkdirSync(dirname(path), { recursive: true });
  writeModel(new LazyModel(proto, dirname(path), generators), path, { externalData: true });
}

/** The generated model of `spec` in `dir` (cached: generated only when missing or of another spec). */
function ensureDecoder(spec: DecoderSpec, dir: string): { path: string; seconds?: number; rssNote?: string } {
  const path = join(dir, 'model.onnx');
  const specFile = join(dir, 'spec.json');
  const wanted = JSON.stringify(spec);
  if (
    !has('regenerate') &&
    existsSync(path) &&
    existsSync(`${path}.data`) &&
    existsSync(specFile) &&
    readFileSync(specFile, 'utf8') === wanted
  ) {
    return { path };
  }
  rmSync(dir, { recursive: true, force: true });
  process.stderr.write(`generating ${show(path)} (${(paramCount(spec) / 1e6).toFixed(0)} M params)…\n`);
  const rssBefore = process.resourceUsage().maxRSS;
  const started = performance.now();
  generateDecoder(spec, path);
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(specFile, wanted);
  const rssAfter = process.resourceUsage().maxRSS;
  return {
    path,
    seconds,
    rssNote: `benchmark process peak RSS ${fmtMb(rssAfter)}${rssAfter > rssBefore ? '' : ' (set before generation)'}`,
  };
}

interface Series {
  label: string;
  runs: ProcessRun[];
  command: string;
  bytes: number;
  inner?: number[];
}

function summarize(s: Series): { seconds: number; rssKb: number } {
  return { seconds: median(s.runs.map((r) => r.seconds)), rssKb: Math.max(...s.runs.map((r) => r.maxRssKb)) };
}

async function partSpeed(python: boolean): Promise<void> {
  const spec: DecoderSpec = { d: 1024, layers: 12, vocab: 32000, ffA: 3072, ffB: 4096, seed: 1 };
  out(
    `## 3. Speed and peak RSS, whole processes, on a generated decoder (${(paramCount(spec) / 1e6).toFixed(1)} M fp32 params, external data)`,
  );
  const gen = ensureDecoder(spec, join(DIR, 'decoder-240m'));
  const model = gen.path;
  const inBytes = inputBytes(model);
  out(
    `model: ${model} + .data, ${(inBytes / MB).toFixed(0)} MB: Gather [${spec.vocab}, ${spec.d}], ${spec.layers} × (LN + MatMul [${spec.d}, ${spec.ffA}] + Relu + MatMul [${spec.ffA}, ${spec.d}] + Add, ` +
      `LN + MatMul [${spec.d}, ${spec.ffB}] + Relu + MatMul [${spec.ffB}, ${spec.d}] + Add), LN, MatMul [${spec.d}, ${spec.vocab}]; opset 17, IR 8`,
  );
  if (gen.seconds !== undefined)
    out(`generated in this run with slmops' writeModel in ${gen.seconds.toFixed(1)} s (${gen.rssNote})`);
  else out('generated earlier (cached; --regenerate to rebuild)');
  out(
    `each configuration: 1 warm-up run, then ${RUNS} timed runs; median wall seconds (measured around spawnSync), peak RSS = max over the timed runs`,
  );

  const series: Series[] = [];
  const time = (label: string, once: () => { run: ProcessRun; bytes: number; inner?: number }): Series => {
    process.stderr.write(`part 3: ${label}: warm-up…\n`);
    const warm = once();
    if (!warm.run.ok) {
      notes.push(`part 3: ${label} failed (exit ${warm.run.status}): ${lastLines(warm.run.stderr)}`);
      const s: Series = { label, runs: [], command: warm.run.command, bytes: 0 };
      series.push(s);
      return s;
    }
    const runs: ProcessRun[] = [];
    const inner: number[] = [];
    let bytes = warm.bytes;
    for (let i = 0; i < RUNS; i++) {
      process.stderr.write(`part 3: ${label}: run ${i + 1}/${RUNS}…\n`);
      const r = once();
      if (!r.run.ok) notes.push(`part 3: ${label} run ${i + 1} failed: ${lastLines(r.run.stderr)}`);
      else {
        runs.push(r.run);
        bytes = r.bytes;
        if (r.inner !== undefined) inner.push(r.inner);
      }
    }
    const s: Series = { label, runs, command: warm.run.command, bytes, ...(inner.length ? { inner } : {}) };
    series.push(s);
    return s;
  };
  const oursOnce = (recipe: string, fidelity: 'on' | 'off') => () => {
    const dir = join(DIR, 'speed', `ours-${slug(recipe)}-${fidelity}`);
    rmSync(dir, { recursive: true, force: true });
    const run = runOurs([
      'compress',
      model,
      '--recipe',
      recipe,
      '--out',
      dir,
      '--fidelity',
      fidelity,
      '--json',
    ]);
    return { run, bytes: run.ok ? dirBytes(dir) : 0 };
  };
  const ortOnce = (mode: OrtMode) => () => {
    const dir = join(DIR, 'speed', `ort-${mode}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const run = runOrt(mode, model, join(dir, 'model.onnx'), true);
    return { run, bytes: run.ok ? dirBytes(dir) : 0, inner: run.innerSeconds };
  };

  const oursInt8 = time('ours int8', oursOnce('int8', 'off'));
  const oursInt4 = time('ours int4:block=32', oursOnce('int4:block=32', 'off'));
  const ortInt8 = python ? time('ORT quantize_dynamic(QInt8)', ortOnce('int8')) : undefined;
  const ortInt4 = python ? time('ORT MatMulNBitsQuantizer(32, sym)', ortOnce('int4')) : undefined;

  // --fidelity on, once each (synthesized inputs: 8 × seq 16, both models in onnxruntime in a child process)
  const fidelityRuns: { label: string; run: ProcessRun; report?: CompressReport }[] = [];
  for (const recipe of ['int8', 'int4:block=32']) {
    process.stderr.write(`part 3: ours ${recipe} --fidelity on…\n`);
    const { run } = oursOnce(recipe, 'on')();
    const report = parseReport(run);
    if (!report) notes.push(`part 3: ours ${recipe} --fidelity on failed: ${lastLines(run.stderr)}`);
    fidelityRuns.push({ label: `ours ${recipe} --fidelity on`, run, ...(report ? { report } : {}) });
  }

  out('commands (cwd = repository root):');
  for (const s of series) out(`  ${s.label}: ${s.command}`);
  for (const f of fidelityRuns) out(`  ${f.label}: ${f.run.command}`);
  const rows: string[][] = [];
  for (const s of series) {
    if (!s.runs.length) {
      rows.push([s.label, 'failed', '', '', '', '']);
      continue;
    }
    const m = summarize(s);
    rows.push([
      s.label,
      m.seconds.toFixed(2),
      s.runs.map((r) => r.seconds.toFixed(2)).join(' / '),
      s.inner ? median(s.inner).toFixed(2) : '',
      fmtMb(m.rssKb),
      `${fmtBytes(s.bytes)} (${(s.bytes / inBytes).toFixed(3)})`,
    ]);
  }
  for (const f of fidelityRuns) {
    const fr = f.report?.fidelity;
    rows.push([
      f.label,
      f.run.seconds.toFixed(2),
      '1 run',
      '',
      `${fmtMb(f.run.maxRssKb)}${f.run.childRssKb ? ` + child ${fmtMb(f.run.childRssKb)}` : ''}`,
      fr?.status === 'ran'
        ? `top-1 agr ${fr.top1Agreement?.toFixed(4)}, cosine ${fr.cosine?.toFixed(6)}, max|Δ| ${fr.maxAbsDiff?.toPrecision(3)}`
        : (fr?.status ?? 'failed'),
    ]);
  }
  table(
    [
      'configuration',
      'median s',
      `runs (s)`,
      'python inner s',
      'peak RSS',
      'output bytes (ratio) / fidelity',
    ],
    rows,
    'lrrrrl',
  );
  if (python) {
    // The same fidelity check (8 synthesized inputs, seq 16) on ORT's outputs, for context: with random weights the
    // logits are nearly tied, so top-1 agreement says little; cosine and KL compare the two tools.
    const parts: string[] = [];
    for (const [label, mode] of [
      ['int8', 'int8'],
      ['int4', 'int4'],
    ] as const) {
      const candidate = join(DIR, 'speed', `ort-${mode}`, 'model.onnx');
      if (!existsSync(candidate)) continue;
      try {
        const m = await measureFidelity({ reference: model, candidate, samples: 8, threads: 1 });
        parts.push(
          `ORT ${label}: top-1 agr ${m.top1Agreement.toFixed(4)}, cosine ${m.cosine.toFixed(6)}, max|Δ| ${m.maxAbsDiff.toPrecision(3)}, KL ${m.klDivergence.toExponential(2)}`,
        );
      } catch (error) {
        parts.push(`ORT ${label}: check failed (${(error as Error).message})`);
      }
    }
    out(`same check on ORT's files (measureFidelity in this process, 1 thread): ${parts.join('; ')}`);
    out(
      '(random weights give near-tied logits: top-1 agreement is not meaningful on this model; compare cosine)',
    );
  }

  const compare = (what: string, ours: Series, ort: Series | undefined, speedTarget: number): void => {
    if (!ort || !ours.runs.length || !ort.runs.length) {
      out(
        `${what}: ${ort ? 'a run failed, no ratio' : 'ORT not available (no python3 with onnxruntime): no ratio'}`,
      );
      if (!ours.runs.length) verdict('3', `${what} ours`, 'failed', 'runs', false);
      return;
    }
    const a = summarize(ours);
    const b = summarize(ort);
    const speed = b.seconds / a.seconds;
    const rss = a.rssKb / b.rssKb;
    out(
      `${what}: ORT/ours time ${speed.toFixed(2)}× (target ≥ ${speedTarget}×: ${verdict('3', `${what} speed ORT/ours`, `${speed.toFixed(2)}×`, `≥ ${speedTarget}×`, speed >= speedTarget)}); ` +
        `ours/ORT peak RSS ${rss.toFixed(2)}× (target ≤ 0.5×: ${verdict('3', `${what} RSS ours/ORT`, `${rss.toFixed(2)}×`, '≤ 0.5×', rss <= 0.5)})`,
    );
  };
  compare('int8', oursInt8, ortInt8, 5);
  compare('int4', oursInt4, ortInt4, 3);
  out();
}

async function partLarge(): Promise<void> {
  const layers = Number(flag('large-layers', '20'));
  const spec: DecoderSpec = { d: 2048, layers, vocab: 32000, ffA: 6144, ffB: 8192, seed: 2 };
  const params = paramCount(spec);
  out(
    `## 4. Peak RSS at ~1 B parameters: generated decoder d ${spec.d}, ${layers} layers, vocab ${spec.vocab} (${(params / 1e9).toFixed(2)} B params, ${((params * 4) / GB).toFixed(1)} GB fp32)`,
  );
  const dir = join(DIR, `decoder-d2048-l${layers}`);
  mkdirSync(DIR, { recursive: true });
  const fs = statfsSync(DIR);
  const free = Number(fs.bavail) * Number(fs.bsize);
  const cached = existsSync(join(dir, 'model.onnx.data'));
  if (!cached && free < 12 * GB) {
    out(`skipped: ${(free / GB).toFixed(1)} GB free under ${DIR}, need ≥ 12 GB (model + int4 output)`);
    out();
    return;
  }
  out(`free disk under ${DIR}: ${(free / GB).toFixed(1)} GB`);
  const gen = ensureDecoder(spec, dir);
  if (gen.seconds !== undefined)
    out(`generated in this run with slmops' writeModel in ${gen.seconds.toFixed(1)} s (${gen.rssNote})`);
  else out('generated earlier (cached)');
  const outDir = join(DIR, 'large', 'ours-int4');
  rmSync(outDir, { recursive: true, force: true });
  process.stderr.write('part 4: ours int4:block=32 --fidelity off…\n');
  const run = runOurs([
    'compress',
    gen.path,
    '--recipe',
    'int4:block=32',
    '--out',
    outDir,
    '--fidelity',
    'off',
    '--json',
  ]);
  out(`ours: ${run.command}`);
  if (!run.ok) {
    notes.push(`part 4: failed (exit ${run.status}): ${lastLines(run.stderr)}`);
    verdict('4', 'int4 at 1 B params', 'failed', 'runs', false);
  } else {
    const bytes = dirBytes(outDir);
    const rssGb = (run.maxRssKb * 1024) / GB;
    out(
      `int4:block=32: ${run.seconds.toFixed(1)} s wall (1 run, no warm-up; ${gen.seconds === undefined ? 'input generated earlier' : 'input just written, so in the page cache'}), output ${fmtBytes(bytes)} bytes (${(bytes / inputBytes(gen.path)).toFixed(3)}), ` +
        `peak RSS ${rssGb.toFixed(2)} GB (target ≤ 1.5 GB: ${verdict('4', 'int4 peak RSS at 1 B params', `${rssGb.toFixed(2)} GB`, '≤ 1.5 GB', rssGb <= 1.5)})`,
    );
  }
  rmSync(outDir, { recursive: true, force: true });
  if (has('clean')) rmSync(dir, { recursive: true, force: true });
  out();
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(DIR, { recursive: true });
  const py = pythonStatus();
  const ortNode = JSON.parse(
    readFileSync(join(ROOT, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8'),
  ) as { version: string };
  out(`# compress benchmark: node benchmarks/run.mjs compress ${args.join(' ')}`.trimEnd());
  out(
    `node ${process.version}, onnxruntime-node ${ortNode.version}; ${py.available ? py.detail : `ORT Python tools not available (${py.detail})`}; ` +
      `work dir ${DIR}; parts ${[...PARTS].sort().join(',')}`,
  );
  const started = performance.now();
  await buildCli();
  out(
    `CLI bundled from src/cli/main.ts to ${show(CLI)} (esbuild, platform node, esm, node20, onnxruntime-node external)`,
  );
  out();
  if (PARTS.has('1')) await partQuality(py.available);
  if (PARTS.has('2')) await partKv();
  if (PARTS.has('3')) await partSpeed(py.available);
  if (PARTS.has('4')) await partLarge();

  out('## Summary');
  table(
    ['part', 'check', 'measured', 'target', 'verdict'],
    verdicts.map((v) => [v.part, v.what, v.measured, v.target, okText(v.ok)]),
    'llrll',
  );
  const missed = verdicts.filter((v) => !v.ok);
  out(
    missed.length
      ? `MISSED ${missed.length} of ${verdicts.length} targets: ${missed.map((v) => `[${v.part}] ${v.what}`).join('; ')}`
      : `all ${verdicts.length} targets met`,
  );
  for (const n of notes) out(`note: ${n}`);
  out(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = 0;
}

await main();
