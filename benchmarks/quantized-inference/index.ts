/**
 * quantized-inference: is a model quantized by slmops as fast in onnxruntime as the same model quantized by
 * onnxruntime's own Python tools? For each language model and each of int8 and int4, at 1 and 2 threads:
 * several fresh processes each load both variants, warm up, and time them in randomized ABBA blocks; the
 * hierarchical bootstrap gives a 95 % CI of the median ratio ours/ORT's (target: upper bound ≤ 1.05).
 *
 *   node benchmarks/run.mjs quantized-inference [--processes 6] [--iterations 200]
 *
 * Needs python3 with onnxruntime to make ORT's variants; without it, says so and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureInterleaved } from '../../src/bench/interleave.ts';
import { bootstrapRatioCi, median } from '../../src/bench/statistics.ts';
import { compressModel } from '../../src/compress/compress.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { readEvalData } from '../../src/evaluate/eval-data.ts';
import { evalFeeds } from '../../src/evaluate/feeds.ts';
import { createSession } from '../../src/inference/session.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const self = fileURLToPath(import.meta.url);
const repo = resolve(dirname(self), '..', '..');
const here = join(repo, 'benchmarks', 'quantized-inference');

async function child(): Promise<void> {
  const [ours, theirs, evalPath, threads, iterations, seed] = args.slice(1);
  const record = readEvalData(evalPath!).slice(0, 1);
  const open = (path: string) => createSession(path, { intraOpThreads: Number(threads) });
  const [a, b] = [await open(ours!), await open(theirs!)];
  const samples = await measureInterleaved(
    [
      { name: 'ours', session: a, feeds: evalFeeds(a.inputs, record, evalPath!) },
      { name: 'ort', session: b, feeds: evalFeeds(b.inputs, record, evalPath!) },
    ],
    { iterations: Number(iterations), seed: Number(seed) },
  );
  process.stdout.write(`${JSON.stringify(samples)}\n`);
}

async function main(): Promise<void> {
  if (args[0] === '--child') return child();
  const python = spawnSync('python3', ['-c', 'import onnxruntime'], { encoding: 'utf8' });
  if (python.status !== 0) {
    process.stdout.write(
      'quantized-inference: python3 with onnxruntime is not available; nothing to compare against.\n',
    );
    return;
  }
  const processes = Number(flag('processes', '6'));
  const iterations = Number(flag('iterations', '200'));
  const dir = flag('dir', join(tmpdir(), 'slmops-quantized-inference'));
  mkdirSync(dir, { recursive: true });
  const models = [
    { name: 'tiny-shakespeare-lm', path: join(repo, 'test/fixtures/models/tiny-shakespeare-lm/model.onnx') },
    { name: 'tiny-shakespeare-kv', path: join(repo, 'test/fixtures/models/tiny-shakespeare-kv/model.onnx') },
  ];
  const rows: string[] = [];
  for (const model of models) {
    const evalPath = join(dirname(model.path), 'eval.jsonl');
    for (const [kind, recipe] of [
      ['int8', 'int8'],
      ['int4', 'int4:block=32'],
    ] as const) {
      const ours = await compressModel({
        modelPath: model.path,
        recipe: parseRecipeSpec(recipe),
        outDir: join(dir, `${model.name}-${kind}-ours`),
        fidelity: 'off',
      });
      const theirs = join(dir, `${model.name}-${kind}-ort.onnx`);
      const made = spawnSync('python3', [join(here, 'ort_quantize.py'), model.path, kind, theirs], {
        encoding: 'utf8',
      });
      if (made.status !== 0) throw new Error(`ORT ${kind} failed: ${made.stderr}`);
      for (const threads of [1, 2]) {
        const head: number[][] = [];
        const base: number[][] = [];
        for (let p = 0; p < processes; p++) {
          const run = spawnSync(
            process.execPath,
            [
              self,
              '--child',
              ours.modelPath,
              theirs,
              evalPath,
              String(threads),
              String(iterations),
              String(p + 1),
            ],
            { encoding: 'utf8', env: { ...process.env } },
          );
          if (run.status !== 0) throw new Error(`child failed: ${run.stderr}`);
          const samples = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, number[]>;
          head.push(samples.ours!);
          base.push(samples.ort!);
        }
        const { ratio, ci95 } = bootstrapRatioCi(head, base);
        const ok = ci95[1] <= 1.05;
        rows.push(
          `${model.name.padEnd(20)} ${kind}  t${threads}  ours p50 ${median(head.flat()).toFixed(3)} ms  ORT p50 ${median(base.flat()).toFixed(3)} ms  ratio ${ratio.toFixed(3)}  95 % CI [${ci95[0].toFixed(3)}, ${ci95[1].toFixed(3)}]  ${ok ? 'ok' : 'MISSED'} (upper ≤ 1.05)`,
        );
        process.stderr.write(`${rows.at(-1)}\n`);
      }
    }
  }
  process.stdout.write(
    `quantized-inference: ${processes} processes × ${iterations} iterations per arm, randomized ABBA, one eval window (batch 1, seq 128)\n${rows.join('\n')}\n`,
  );
}

await main();
