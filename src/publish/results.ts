/**
 * results.json (`slmops.results/v1`): what was measured about a release (compress reports, benchmark results per
 * profile, the gate's verdict). It is a release asset of its own, outside the release's identity, so measuring
 * again refreshes it without changing what was released. Also the per-profile metrics the index and the release
 * notes show.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { glob } from 'tinyglobby';
import { validateDocument } from '../config/load.ts';
import type { BenchResult, CompressReport, Verdict } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import type { CollectedBundle } from './bundle.ts';

export const RESULTS_FILE = 'results.json';

export interface ResultsDocument {
  schema: 'slmops.results/v1';
  name: string;
  version: string;
  identity: string;
  variants: { id: string; path: string; sha256: string; compress?: CompressReport }[];
  bench: BenchResult[];
  verdict?: Verdict;
}

/** One variant on one profile, as the index and the release notes show it. */
export interface ProfileMetric {
  variant: string;
  /** Bundle path of the variant's .onnx file. */
  path: string;
  profile: string;
  mode: 'native' | 'emulated';
  /** p50 latency: measured on the device (native), or the device prediction (emulated). */
  p50Ms: number;
  p90Ms: number | null;
  peakRssBytes: number;
  tokensPerSec?: number;
  quality?: { metric: string; value: number };
  /** The gate's verdict for this variant on this profile (worst of its rules), when a verdict was given. */
  verdict?: 'pass' | 'fail' | 'inconclusive' | 'acknowledged';
}

export interface MeasuredInputs {
  bench: BenchResult[];
  verdict?: Verdict;
  compress: CompressReport[];
}

async function expand(pattern: string, cwd: string): Promise<string[]> {
  let target = pattern;
  try {
    if (statSync(resolve(cwd, pattern)).isDirectory()) target = `${pattern.replace(/\/+$/, '')}/**/*.json`;
  } catch {
    // a glob
  }
  return (await glob(target, { cwd, absolute: true, dot: false })).map((f) => resolve(f)).sort();
}

/**
 * Reads bench results, a verdict and compress reports from files, folders or globs, by their `schema` field
 * (other JSON files are passed over). A pattern matching none of them, or two verdicts, is an error.
 */
export async function loadMeasured(
  patterns: readonly string[],
  cwd = process.cwd(),
): Promise<MeasuredInputs> {
  const out: MeasuredInputs = { bench: [], compress: [] };
  let verdictFile: string | undefined;
  for (const pattern of patterns) {
    let matched = 0;
    for (const file of await expand(pattern, cwd)) {
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      const schema = (value as { schema?: unknown } | null)?.schema;
      if (schema === 'slmops.bench/v1') out.bench.push(validateDocument('bench', value, file));
      else if (schema === 'slmops.compress/v1') out.compress.push(validateDocument('compress', value, file));
      else if (schema === 'slmops.verdict/v1') {
        if (verdictFile) {
          throw new ConfigurationError(`two verdicts given (${verdictFile} and ${file})`, {
            subject: 'results',
            fix: 'Pass the verdict.json of the gate that judged this release only',
          });
        }
        verdictFile = file;
        out.verdict = validateDocument('verdict', value, file);
      } else continue;
      matched += 1;
    }
    if (matched === 0) {
      throw new ConfigurationError(`'${pattern}' matches no bench result, verdict or compress report`, {
        subject: 'results',
        fix: 'Give the folder or files the benchmark and gate steps wrote (e.g. slmops/results)',
      });
    }
  }
  return out;
}

/**
 * The results document of a bundle. Bench results are kept when they measured one of the bundle's models (same
 * sha256, else same variant id); the others are returned as `skipped` so the caller can say so.
 */
export function buildResults(
  bundle: CollectedBundle,
  version: string,
  measured: MeasuredInputs,
): { results: ResultsDocument; skipped: BenchResult[] } {
  const bySha = new Map(bundle.variants.map((v) => [v.sha256, v]));
  const byId = new Map(bundle.variants.map((v) => [v.id, v]));
  const bench: BenchResult[] = [];
  const skipped: BenchResult[] = [];
  for (const result of measured.bench) {
    if (bySha.has(result.model.sha256) || byId.has(result.variantId)) bench.push(result);
    else skipped.push(result);
  }
  const reports = new Map(measured.compress.map((r) => [r.output.sha256, r]));
  const results: ResultsDocument = {
    schema: 'slmops.results/v1',
    name: bundle.name,
    version,
    identity: bundle.identity,
    variants: bundle.variants.map((v) => {
      const compress = v.compress ?? reports.get(v.sha256);
      return { id: v.id, path: v.path, sha256: v.sha256, ...(compress ? { compress } : {}) };
    }),
    bench: bench.sort((a, b) =>
      `${a.variantId}\u0000${a.profile.id}` < `${b.variantId}\u0000${b.profile.id}` ? -1 : 1,
    ),
    ...(measured.verdict ? { verdict: measured.verdict } : {}),
  };
  return { results, skipped };
}

export function serializeResults(results: ResultsDocument): Buffer {
  return Buffer.from(`${JSON.stringify(results, null, 2)}\n`, 'utf8');
}

/** Whether the document has anything measured (an empty results.json is not uploaded). */
export function hasMeasurements(results: ResultsDocument): boolean {
  return (
    results.bench.length > 0 || results.verdict !== undefined || results.variants.some((v) => v.compress)
  );
}

/** Reads results.json bytes (a light check: it is slmops's own document). */
export function parseResults(bytes: Uint8Array | string, subject: string): ResultsDocument {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new ConfigurationError(`is not JSON (${(error as Error).message})`, { subject });
  }
  const doc = value as Partial<ResultsDocument> | null;
  if (doc?.schema !== 'slmops.results/v1' || !Array.isArray(doc.bench) || !Array.isArray(doc.variants)) {
    throw new ConfigurationError('is not an slmops.results/v1 document', { subject });
  }
  return doc as ResultsDocument;
}

const VERDICT_RANK = { pass: 0, acknowledged: 1, inconclusive: 2, fail: 3 } as const;

/** Per-profile metrics of each variant: one entry per (variant, profile), the latest result when there are several. */
export function profileMetrics(results: ResultsDocument): ProfileMetric[] {
  const paths = new Map(results.variants.map((v) => [v.sha256, v.path]));
  const pathsById = new Map(results.variants.map((v) => [v.id, v.path]));
  const latest = new Map<string, BenchResult>();
  for (const r of results.bench) {
    const key = `${r.variantId}\u0000${r.profile.id}`;
    const seen = latest.get(key);
    if (!seen || seen.createdAt < r.createdAt) latest.set(key, r);
  }
  const metrics: ProfileMetric[] = [];
  for (const r of latest.values()) {
    const verdicts = (results.verdict?.rules ?? []).filter(
      (rule) => rule.variantId === r.variantId && rule.profileId === r.profile.id,
    );
    const worst = verdicts.map((v) => v.verdict).sort((a, b) => VERDICT_RANK[b] - VERDICT_RANK[a])[0];
    const emulated = r.profile.mode === 'emulated';
    metrics.push({
      variant: r.variantId,
      path: paths.get(r.model.sha256) ?? pathsById.get(r.variantId) ?? r.model.path,
      profile: r.profile.id,
      mode: r.profile.mode,
      p50Ms: emulated && r.predicted ? r.predicted.p50Ms : r.latencyMs.p50,
      p90Ms: emulated ? null : r.latencyMs.p90,
      peakRssBytes: r.peakRssBytes,
      ...(r.throughput ? { tokensPerSec: r.throughput.tokensPerSec } : {}),
      ...(r.quality ? { quality: { metric: r.quality.metric, value: r.quality.value } } : {}),
      ...(worst ? { verdict: worst } : {}),
    });
  }
  return metrics.sort((a, b) =>
    a.profile !== b.profile
      ? a.profile < b.profile
        ? -1
        : 1
      : a.p50Ms - b.p50Ms || (a.variant < b.variant ? -1 : 1),
  );
}

function formatMs(ms: number | null): string {
  if (ms === null) return '–';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Escapes a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** The benchmark table of the release notes (Markdown); undefined when nothing was measured. */
export function benchmarkTable(metrics: readonly ProfileMetric[], maxRows = 200): string | undefined {
  if (metrics.length === 0) return undefined;
  const rows = metrics
    .slice(0, maxRows)
    .map((m) =>
      [
        `\`${cell(m.variant)}\``,
        cell(m.profile),
        m.mode === 'emulated' ? 'emulated (predicted)' : 'on device',
        formatMs(m.p50Ms),
        formatMs(m.p90Ms),
        m.tokensPerSec === undefined ? '–' : m.tokensPerSec.toFixed(1),
        formatMiB(m.peakRssBytes),
        m.quality ? `${cell(m.quality.metric)} ${m.quality.value.toPrecision(4)}` : '–',
        m.verdict ?? '–',
      ].join(' | '),
    );
  const lines = [
    '| Variant | Profile | Measured | p50 ms | p90 ms | tokens/s | Peak RSS | Quality | Gate |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ];
  if (metrics.length > maxRows)
    lines.push('', `… and ${metrics.length - maxRows} more rows in results.json.`);
  return lines.join('\n');
}
