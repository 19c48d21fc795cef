/**
 * onnx-io: how fast and how lean the ONNX core reads, inspects and writes a large model.
 *
 * Generates a model of about 100 M fp32 parameters stored as raw_data (once in one file, once with external data),
 * then, each in a fresh process: path → ModelProto with every initializer decoded to a typed array and summed;
 * inspect; write. Prints MB/s and peak RSS against the targets (decode ≥ 500 MB/s; peak RSS ≤ 1.3 × file size in
 * one file, ≤ 0.2 × data size for external data read lazily).
 *
 *   node benchmarks/run.mjs onnx-io [--params 100000000] [--dir /tmp/slmops-onnx-io] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { inspectLoadedModel } from '../../src/onnx/inspect.ts';
import { OnnxModel } from '../../src/onnx/model.ts';
import { createTensorProto, type ModelProto } from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { writeModel } from '../../src/onnx/write.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const self = fileURLToPath(import.meta.url);
const MB = 1e6;

function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** A chain of MatMuls [1,d] x [d,d] … whose weights hold `params` fp32 values in total. */
function generate(params: number, path: string, external: boolean): void {
  const d = 1000;
  const layers = Math.max(1, Math.round(params / (d * d)));
  const proto = {
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
      name: 'chain',
      node: [] as ModelProto['graph'] extends infer G ? (G extends { node: infer N } ? N : never) : never,
      initializer: [] as ReturnType<typeof createTensorProto>[],
      sparseInitializer: [],
      input: [
        {
          name: 'x',
          type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: d }] } } },
        },
      ],
      output: [
        {
          name: `h${layers}`,
          type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: d }] } } },
        },
      ],
      valueInfo: [],
    },
  } as unknown as ModelProto;
  let seed = 1;
  for (let l = 0; l < layers; l++) {
    const values = new Float32Array(d * d);
    for (let i = 0; i < values.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      values[i] = (seed / 2 ** 32 - 0.5) * 0.06;
    }
    proto.graph!.initializer.push(
      createTensorProto({ name: `w${l}`, dataType: 1, dims: [d, d], rawData: new Uint8Array(values.buffer) }),
    );
    proto.graph!.node.push({
      input: [l === 0 ? 'x' : `h${l}`, `w${l}`],
      output: [`h${l + 1}`],
      name: `mm${l}`,
      opType: 'MatMul',
      domain: '',
      attribute: [],
    });
  }
  writeModel(new OnnxModel(proto, join(path, '..'), undefined, 0), path, { externalData: external });
}

function child(mode: string, path: string, out?: string): Record<string, number> {
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', self, '--child', mode, path, ...(out ? [out] : [])],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  );
  if (result.status !== 0) throw new Error(`child ${mode} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

async function runChild(mode: string, path: string, out: string | undefined): Promise<void> {
  const started = performance.now();
  let bytes = 0;
  if (mode === 'decode') {
    const model = readModel(path);
    let sum = 0;
    for (const tensor of model.proto.graph!.initializer) {
      const values = model.tensorArray(tensor, { reuse: true }) as Float32Array;
      bytes += values.byteLength;
      for (let i = 0; i < values.length; i++) sum += values[i]!;
    }
    if (!Number.isFinite(sum)) throw new Error('sum is not finite');
  } else if (mode === 'inspect') {
    const report = await inspectLoadedModel(readModel(path));
    bytes = report.bytes + report.externalData.reduce((s, f) => s + f.bytes, 0);
  } else if (mode === 'write') {
    const model = readModel(path);
    const written = writeModel(model, out!, { externalData: 'auto' });
    bytes = written.bytes + (written.dataFile?.bytes ?? 0);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ seconds, bytes, peakRss: peakRssBytes() })}\n`);
}

async function main(): Promise<void> {
  if (args[0] === '--child') {
    await runChild(args[1]!, args[2]!, args[3]);
    return;
  }
  const params = Number(flag('params', '100000000'));
  const dir = flag('dir', join(tmpdir(), 'slmops-onnx-io'));
  mkdirSync(dir, { recursive: true });
  const inFile = join(dir, 'in-file', 'model.onnx');
  const external = join(dir, 'external', 'model.onnx');
  for (const [path, ext] of [
    [inFile, false],
    [external, true],
  ] as const) {
    mkdirSync(join(path, '..'), { recursive: true });
    if (!existsSync(path)) {
      process.stderr.write(`generating ${path} (${params / 1e6} M params)…\n`);
      generate(params, path, ext);
    }
  }
  const fileBytes = statSync(inFile).size;
  const dataBytes = statSync(`${external}.data`).size;
  const rows: string[] = [];
  const verdicts: boolean[] = [];
  const line = (label: string, r: Record<string, number>, target: string, ok?: boolean): void => {
    rows.push(
      `${label.padEnd(34)} ${r.seconds!.toFixed(3).padStart(7)} s  ${(r.bytes! / MB / r.seconds!).toFixed(0).padStart(6)} MB/s  peak RSS ${(r.peakRss! / MB).toFixed(0).padStart(5)} MB  ${target}${ok === undefined ? '' : ok ? '  ok' : '  MISSED'}`,
    );
    if (ok !== undefined) verdicts.push(ok);
  };
  // Warm the page cache so every run measures our code, not the disk.
  child('inspect', inFile);
  child('inspect', external);
  const decodeIn = child('decode', inFile);
  const mbps = decodeIn.bytes! / MB / decodeIn.seconds!;
  line(
    'decode, in one file',
    decodeIn,
    `≥ 500 MB/s; RSS ${(decodeIn.peakRss! / fileBytes).toFixed(2)}× file (≤ 1.3×)`,
    mbps >= 500 && decodeIn.peakRss! <= 1.3 * fileBytes,
  );
  const decodeExt = child('decode', external);
  line(
    'decode, external data (lazy)',
    decodeExt,
    `≥ 500 MB/s; RSS ${(decodeExt.peakRss! / dataBytes).toFixed(2)}× data (≤ 0.2×)`,
    decodeExt.bytes! / MB / decodeExt.seconds! >= 500 && decodeExt.peakRss! <= 0.2 * dataBytes,
  );
  line('inspect (with sha256), in one file', child('inspect', inFile), '');
  line('inspect (with sha256), external', child('inspect', external), '');
  const outDir = join(dir, 'written');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  line('write, in one file', child('write', inFile, join(outDir, 'in-file.onnx')), '');
  line('write, external data', child('write', external, join(outDir, 'external.onnx')), '');
  process.stdout.write(
    `onnx-io: ${params / 1e6} M fp32 params; model file ${(fileBytes / MB).toFixed(0)} MB, external data ${(dataBytes / MB).toFixed(0)} MB; node ${process.version}\n${rows.join('\n')}\n`,
  );
  if (!args.includes('--keep')) rmSync(outDir, { recursive: true, force: true });
  process.exitCode = verdicts.every(Boolean) ? 0 : 1;
}

await main();
