/**
 * gate: how long a gate decision over many result files takes, as a user runs it (a fresh `slmops gate`
 * process: start-up, reading and validating every file, judging, rendering). Target: 50 files in < 1 s.
 *
 *   node benchmarks/run.mjs gate [--files 50] [--runs 5]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = Number(flag('files', '50'));
const runs = Number(flag('runs', '5'));
const dir = join(tmpdir(), 'slmops-gate-bench');
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'results'), { recursive: true });

const example = JSON.parse(readFileSync(join(repo, 'schemas/examples/bench.example.json'), 'utf8'));
for (let i = 0; i < files; i++) {
  const result = structuredClone(example);
  result.variantId = `model-${i % 10}@int4:block=32,sym,acc=0`;
  result.profile = {
    id: ['raspberry-pi-5', 'jetson-orin-nano', 'intel-n100', 'rk3588', 'raspberry-pi-4'][
      Math.floor(i / 10) % 5
    ],
    mode: 'emulated',
  };
  result.samplesMs = Array.from({ length: 300 }, (_, k) => 4 + ((k * 7919) % 100) / 100);
  result.comparison.baselineBytes = 320000;
  writeFileSync(join(dir, 'results', `r${i}.bench.json`), JSON.stringify(result, null, 2));
}
writeFileSync(
  join(dir, 'budgets.yml'),
  'schema: slmops.budgets/v1\ndefaults:\n  latency: { ratioTolerance: 0.05 }\n  sizeBytes: { growth: 0.02 }\nrules:\n  - profile: "*"\n    latency: { p50Ms: 30 }\n    perplexity: { increasePct: 5 }\n',
);

const cli = join(repo, 'benchmarks', '.out', 'slmops-gate-cli.mjs');
await build({
  entryPoints: [join(repo, 'src/cli/main.ts')],
  outfile: cli,
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
const times: number[] = [];
for (let r = 0; r < runs + 1; r++) {
  const started = performance.now();
  const run = spawnSync(
    process.execPath,
    [
      cli,
      'gate',
      join(dir, 'results'),
      '--budgets',
      join(dir, 'budgets.yml'),
      '--out',
      join(dir, 'verdict.json'),
    ],
    {
      encoding: 'utf8',
    },
  );
  const ms = performance.now() - started;
  if (run.status !== 0 && run.status !== 1) throw new Error(`gate failed: ${run.stderr}`);
  if (r > 0) times.push(ms); // the first run warms the page cache
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const verdict = JSON.parse(readFileSync(join(dir, 'verdict.json'), 'utf8'));
process.stdout.write(
  `gate: ${files} result files, ${verdict.rules.length} rules judged; whole process median ${median.toFixed(0)} ms over ${runs} runs (min ${times[0]!.toFixed(0)}, max ${times.at(-1)!.toFixed(0)}) — target < 1000 ms: ${median < 1000 ? 'ok' : 'MISSED'}\n`,
);
