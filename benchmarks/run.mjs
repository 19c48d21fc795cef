#!/usr/bin/env node
// Runs a benchmark under benchmarks/<name>/index.ts: bundles it with esbuild (the project's sources are TypeScript)
// and runs it with node. Usage: node benchmarks/run.mjs <name> [args...]
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...args] = process.argv.slice(2);
if (!name) {
  process.stderr.write('usage: node benchmarks/run.mjs <name> [args...]\n');
  process.exit(2);
}
const outDir = join(here, '.out');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `${name}.mjs`);
await build({
  entryPoints: [join(here, name, 'index.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['onnxruntime-node', 'esbuild'],
  banner: {
    js: "import { createRequire as __slmopsRequire } from 'node:module'; const require = __slmopsRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
const result = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
