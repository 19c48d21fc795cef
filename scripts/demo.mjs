#!/usr/bin/env node
// `npm run demo`: the slmops pipeline on the bundled example model, as far as it exists today.
// Today: inspect the example model and run it once in onnxruntime, compress it to int8 and int4 with a fidelity
// check on its eval data, benchmark each variant against the original on a device profile (quick protocol), and
// gate the results on the default budgets, then pack the int8 variant and verify the bundle.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const model = join('examples', 'digits-cnn', 'model.onnx');
const evalData = join('examples', 'digits-cnn', 'eval.jsonl');
const out = join('.tmp', 'demo');
rmSync(join(root, out), { recursive: true, force: true });

function step(title, args, okCodes = [0]) {
  process.stdout.write(`\n== ${title}\n$ slmops ${args.join(' ')}\n`);
  const result = spawnSync(process.execPath, [join(root, 'bin', 'slmops.js'), ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  if (!okCodes.includes(result.status)) {
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
for (const recipe of ['int8', 'int4:block=32']) {
  const dir = join(out, recipe.replace(/[^\w.-]+/g, '_'));
  step(`benchmark the ${recipe} variant against the original (raspberry-pi-5, emulated, quick protocol)`, [
    'bench',
    join(dir, 'model.onnx'),
    '--baseline',
    model,
    '--profile',
    'raspberry-pi-5',
    '--quick',
    '--eval',
    evalData,
    '--out',
    join(out, 'results', `${recipe.replace(/[^\w.-]+/g, '_')}.raspberry-pi-5.bench.json`),
  ]);
}
step(
  'gate the results on the default budgets (the text is what the PR comment shows)',
  ['gate', join(out, 'results'), '--out', join(out, 'verdict.json')],
  [0, 1],
);
process.env.GITHUB_REPOSITORY ??= 'example/slmops-demo';
step('pack the int8 variant as a reproducible, checksummed bundle, and verify it', [
  'pack',
  join(out, 'int8'),
  '--out',
  join(out, 'bundle.tar.gz'),
  '--results',
  join(out, 'results'),
]);
step('verify the bundle as a device would before using it', ['verify', join(out, 'bundle.tar.gz')]);
process.stdout.write('\ndemo: done\n');
