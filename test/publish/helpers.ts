/**
 * Folders of models laid out as the compress step writes them, the environment a tag-push run has, and result
 * files that measured those models, for the publish tests.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../src/action-kit/logger.ts';
import type { CompressReport } from '../../src/config/types.ts';
import { fixtureModel, fixturesDir } from '../helpers/fixtures.ts';
import { benchResult } from '../helpers/results.ts';

export const OWNER = 'octo-org';
export const REPO = 'edge-models';
export const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
/** 2026-11-29T12:00:00Z */
export const EPOCH = '1795953600';

/** The environment of a run triggered by pushing `tag` (no git needed: SOURCE_DATE_EPOCH gives the time). */
export function tagEnv(tag = 'v1.0.0', extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    GITHUB_REPOSITORY: `${OWNER}/${REPO}`,
    GITHUB_SHA: COMMIT,
    GITHUB_REF: `refs/tags/${tag}`,
    SOURCE_DATE_EPOCH: EPOCH,
    ...extra,
  };
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const compressExample = JSON.parse(
  readFileSync(join(fixturesDir, '..', '..', 'schemas', 'examples', 'compress.example.json'), 'utf8'),
) as CompressReport;

export const DIGITS_VARIANT = 'digits@int8';
export const NESTED_VARIANT = 'digits@fp16';

/**
 * A compress output folder with two variants of model "digits": `digits@int8/model.onnx` (the digits CNN, one
 * file) and `digits@fp16/` (a model with two external data files under `weights/`), each with its
 * compress-report.json. Returns the folder.
 */
export function variantsFolder(root: string, name = 'variants'): string {
  const dir = join(root, name);
  const one = join(dir, 'digits@int8');
  const two = join(dir, 'digits@fp16');
  mkdirSync(one, { recursive: true });
  cpSync(fixtureModel('digits-cnn'), join(one, 'model.onnx'));
  cpSync(join(fixturesDir, 'models', 'external-nested'), two, {
    recursive: true,
    filter: (src) => !/expected\.json|generate\.py$/.test(src),
  });
  for (const [folder, variantId, spec] of [
    [one, DIGITS_VARIANT, 'int8'],
    [two, NESTED_VARIANT, 'fp16'],
  ] as const) {
    const report = structuredClone(compressExample);
    report.modelId = 'digits';
    report.variantId = variantId;
    report.recipe = { spec, passes: [{ pass: spec, options: {} }] };
    const bytes = readFileSync(join(folder, 'model.onnx'));
    report.output = { path: `${folder}/model.onnx`, sha256: sha256(bytes), bytes: bytes.length };
    writeFileSync(join(folder, 'compress-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  }
  return dir;
}

/** Bench results of the two variants on two profiles (int8 faster on the Pi, fp16 failing the gate there). */
export function resultsFolder(root: string, variants: string): string {
  const dir = join(root, 'results');
  mkdirSync(dir, { recursive: true });
  const models: Record<string, Buffer> = {
    [DIGITS_VARIANT]: readFileSync(join(variants, 'digits@int8', 'model.onnx')),
    [NESTED_VARIANT]: readFileSync(join(variants, 'digits@fp16', 'model.onnx')),
  };
  const rows: [string, string, number][] = [
    [DIGITS_VARIANT, 'raspberry-pi-5', 12.5],
    [NESTED_VARIANT, 'raspberry-pi-5', 9.5],
    [DIGITS_VARIANT, 'jetson-orin-nano', 3.2],
  ];
  for (const [variantId, profile, p50] of rows) {
    const bytes = models[variantId] as Buffer;
    const result = benchResult({
      model: { path: `x/${variantId}/model.onnx`, sha256: sha256(bytes), bytes: bytes.length, params: 1000 },
      modelId: 'digits',
      variantId,
      profile: { id: profile, mode: 'native' },
      latencyMs: { p50, p90: p50 * 1.1, p99: null, mean: p50, mad: 0.1, n: 30, ci95: [p50 - 0.1, p50 + 0.1] },
    });
    delete (result as { pullRequest?: unknown }).pullRequest;
    delete (result as { comparison?: unknown }).comparison;
    delete (result as { predicted?: unknown }).predicted;
    writeFileSync(
      join(dir, `${variantId.replace(/[@:]/g, '_')}.${profile}.bench.json`),
      JSON.stringify(result, null, 2),
    );
  }
  const verdict = {
    schema: 'slmops.verdict/v1',
    overall: 'fail',
    advisory: false,
    rules: [
      {
        variantId: NESTED_VARIANT,
        profileId: 'raspberry-pi-5',
        metric: 'quality.perplexity',
        kind: 'relative',
        limit: 5,
        value: 9,
        verdict: 'fail',
        reason: 'perplexity +9 %',
      },
      {
        variantId: DIGITS_VARIANT,
        profileId: 'raspberry-pi-5',
        metric: 'latency.p50Ms',
        kind: 'absolute',
        limit: 30,
        value: 12.5,
        verdict: 'pass',
        reason: 'ok',
      },
    ],
    inputs: [],
    createdAt: '2026-11-29T12:00:00Z',
  };
  writeFileSync(join(dir, 'verdict.json'), JSON.stringify(verdict, null, 2));
  return dir;
}

/** A logger that keeps the lines (for assertions) and drops nothing. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (m: string) => {
    lines.push(`${level}: ${m}`);
  };
  return {
    lines,
    info: add('info'),
    warning: add('warning'),
    error: add('error'),
    debug: () => {},
    group: (_n, fn) => fn(),
  };
}
