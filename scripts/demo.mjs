#!/usr/bin/env node
// `npm run demo`: the slmops pipeline on the bundled example model, as far as it exists today.
// Today: inspect the example model and run it once in onnxruntime, then compress it to int8 and int4 with a
// fidelity check on its eval data. Later steps (bench, gate, pack) join here as they land.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const model = join('examples', 'digits-cnn', 'model.onnx');
const evalData = join('examples', 'digits-cnn', 'eval.jsonl');
const out = join('.tmp', 'demo');

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
for (const recipe of ['int8', 'int4:block=32']) {
  step(`compress it (${recipe}) and check the variant against the original on the eval data`, [
    'compress',
    model,
    '--recipe',
    recipe,
    '--out',
    join(out, recipe.replace(/[^\w.-]+/g, '_')),
    '--eval',
    evalData,
  ]);
}
process.stdout.write('\ndemo: done\n');
