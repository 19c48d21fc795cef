#!/usr/bin/env node
// `npm run demo`: the slmops pipeline on the bundled example model, as far as it exists today.
// Today: inspect the example model and run it once in onnxruntime. Later steps (compress, bench, gate, pack) join
// here as they land.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const model = join('examples', 'digits-cnn', 'model.onnx');

function step(title, args) {
  process.stdout.write(`\n== ${title}\n$ slmops ${args.join(' ')}\n`);
  const result = spawnSync(process.execPath, [join(root, 'bin', 'slmops.js'), ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    process.stderr.write(`demo: "${title}" failed with exit code ${result.status}\n`);
    process.exit(result.status ?? 3);
  }
}

step('inspect the example model and run it once in onnxruntime', ['inspect', model, '--run']);
process.stdout.write('\ndemo: done\n');
