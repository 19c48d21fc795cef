/**
 * The Markdown of the gate: the PR comment and the job summary. A headline verdict, one table per profile
 * (variant × metric: value, baseline, delta, CI, verdict), a Mermaid chart of size against latency, and
 * collapsible details (hosts, protocol, emulation caveats). It stays under GitHub's 65,536-character comment limit:
 * details go first, then table rows, and the comment says what was cut.
 */
import type { BenchResult } from '../config/types.ts';
import type { JudgedRule, JudgedVerdict } from '../gate/judge.ts';
import type { LoadedResult } from '../gate/results.ts';
import { code, escapeMarkdown } from './escape.ts';

export const COMMENT_LIMIT = 65_536;

export interface ReportOptions {
  /** The hidden marker that finds this comment again (one per workflow). */
  marker?: string;
  /** Results come from a fork: advisory, and their text is untrusted. */
  untrusted?: boolean;
  /** Link to the workflow run. */
  runUrl?: string;
  limit?: number;
}

const ICON: Record<string, string> = {
  pass: '✅',
  fail: '❌',
  inconclusive: '⚠️',
  acknowledged: '☑️',
};

function headline(verdict: JudgedVerdict): string {
  const counts = { pass: 0, fail: 0, inconclusive: 0, acknowledged: 0 };
  for (const r of verdict.rules) if (!r.advisory) counts[r.verdict] += 1;
  const word = { pass: 'passed', fail: 'failed', inconclusive: 'inconclusive' }[verdict.overall];
  const parts = [`${counts.pass} passed`, `${counts.fail} failed`, `${counts.inconclusive} inconclusive`];
  if (counts.acknowledged) parts.push(`${counts.acknowledged} accepted`);
  return `## ${ICON[verdict.overall]} slmops gate ${word}\n\n${parts.join(' · ')}${verdict.acknowledgedBy ? ` · regressions accepted with the label ${code(verdict.acknowledgedBy)}` : ''}`;
}

function fmt(value: number | null | undefined, metric: string): string {
  if (value === null || value === undefined) return '–';
  if (metric.startsWith('sizeBytes.max') || metric.startsWith('peakRssBytes'))
    return `${(value / 2 ** 20).toFixed(2)} MiB`;
  if (metric === 'sizeBytes.growth') return `${value >= 0 ? '+' : ''}${(value * 100).toFixed(2)} %`;
  if (metric === 'latency.ratioTolerance') return `×${value.toFixed(3)}`;
  if (metric.startsWith('latency') || metric.startsWith('loadMs'))
    return `${value.toFixed(value < 10 ? 3 : 1)} ms`;
  if (metric === 'accuracy.drop') return `${(value * 100).toFixed(2)} pts`;
  if (metric === 'perplexity.increasePct') return `${value >= 0 ? '+' : ''}${value.toFixed(2)} %`;
  return value.toFixed(value < 10 ? 4 : 1);
}

function limitText(rule: JudgedRule): string {
  switch (rule.metric) {
    case 'latency.ratioTolerance':
      return `≤ ×${rule.limit.toFixed(2)}`;
    case 'sizeBytes.growth':
      return `≤ +${(rule.limit * 100).toFixed(1)} %`;
    case 'accuracy.drop':
      return `≤ ${(rule.limit * 100).toFixed(2)} pts`;
    case 'perplexity.increasePct':
      return `≤ +${rule.limit} %`;
    case 'tokensPerSec.min':
    case 'accuracy.min':
    case 'agreement.min':
      return `≥ ${fmt(rule.limit, rule.metric)}`;
    case 'functional':
      return rule.limit > 0 ? `runs; agreement ≥ ${fmt(rule.limit, rule.metric)}` : 'loads, runs, agrees';
    default:
      return `≤ ${fmt(rule.limit, rule.metric)}`;
  }
}

function ruleRow(rule: JudgedRule, text: (s: string) => string): string {
  const ci = rule.ci95 ? `[${fmt(rule.ci95[0], rule.metric)}, ${fmt(rule.ci95[1], rule.metric)}]` : '–';
  const baseline =
    rule.metric === 'latency.ratioTolerance' && rule.baseline !== undefined && rule.baseline !== null
      ? `${rule.baseline.toFixed(3)} ms`
      : rule.metric === 'sizeBytes.growth' && rule.baseline
        ? `${(rule.baseline / 2 ** 20).toFixed(2)} MiB`
        : rule.metric === 'accuracy.drop' || rule.metric === 'perplexity.increasePct'
          ? fmt(rule.baseline, 'quality')
          : fmt(rule.baseline, rule.metric);
  const verdict = `${ICON[rule.verdict]} ${rule.verdict}${rule.advisory ? ' (advisory)' : ''}`;
  return `| ${text(rule.variantId)} | ${rule.metric} | ${fmt(rule.value, rule.metric)} | ${baseline} | ${ci} | ${limitText(rule)} | ${verdict} |`;
}

const FUNCTIONAL_ICON: Record<string, string> = { passed: '✅', failed: '❌', skipped: '⚠️' };

/**
 * The arm64 functional status of a profile's results (src/devices/qemu), for its section: the worst status in the
 * title, then one line per variant with its figures or its reason. Undefined when no result has the check.
 */
function functionalSummary(
  results: BenchResult[],
  text: (s: string) => string,
): { status: string; lines: string[] } | undefined {
  const checked = results.filter((r) => r.functional);
  if (checked.length === 0) return undefined;
  const statuses = checked.map((r) => r.functional!.status);
  const status = statuses.includes('failed') ? 'failed' : statuses.includes('skipped') ? 'skipped' : 'passed';
  const lines = checked.map((r) => {
    const f = r.functional!;
    const where = f.qemuCpu
      ? `QEMU_CPU=${f.qemuCpu}${f.qemuVersion ? `, QEMU ${f.qemuVersion}` : ''}`
      : 'no emulator';
    const figures =
      f.status === 'skipped'
        ? ''
        : [
            `${f.samples} inputs`,
            ...(f.agreement === undefined ? [] : [`top-1 agreement with x86-64 ${f.agreement.toFixed(4)}`]),
            ...(f.maxAbsDiff === undefined ? [] : [`max |Δ| ${f.maxAbsDiff.toExponential(2)}`]),
            ...(f.metric && f.metricDelta !== undefined
              ? [`${f.metric.name} Δ ${f.metricDelta >= 0 ? '+' : ''}${f.metricDelta.toFixed(4)}`]
              : []),
          ].join(', ');
    const reason = f.reason ? ` — ${text(f.reason)}` : '';
    return `- ${FUNCTIONAL_ICON[f.status]} ${text(r.variantId)}: ${f.status} (${text(where)})${figures ? `: ${figures}` : ''}${reason}`;
  });
  return { status, lines };
}

/** A Mermaid quadrant chart of size (x) against median latency (y) of every variant on one profile. */
function chart(results: BenchResult[], text: (s: string) => string): string | undefined {
  if (results.length < 2) return undefined;
  const sizes = results.map((r) => r.model.bytes);
  const latencies = results.map((r) => r.predicted?.p50Ms ?? r.latencyMs.p50);
  const norm = (v: number, all: number[]) => {
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    return hi === lo ? 0.5 : 0.05 + (0.9 * (v - lo)) / (hi - lo);
  };
  const label = (s: string) =>
    text(s)
      .replace(/[:[\]"]/g, ' ')
      .slice(0, 60);
  return [
    '```mermaid',
    'quadrantChart',
    '  title Size against latency',
    '  x-axis Smaller --> Larger',
    '  y-axis Faster --> Slower',
    ...results.map(
      (r, i) =>
        `  ${label(r.variantId) || `variant ${i + 1}`}: [${norm(sizes[i]!, sizes).toFixed(3)}, ${norm(latencies[i]!, latencies).toFixed(3)}]`,
    ),
    '```',
  ].join('\n');
}

/** Other work this busy during the timing processes is worth telling a reviewer about. */
const BUSY = { otherCores: 0.25, stealPercent: 5 };

function busyHost(result: BenchResult): string | undefined {
  const load = result.hostLoad;
  if (!load || (load.otherCores < BUSY.otherCores && load.stealPercent < BUSY.stealPercent)) return undefined;
  return `measured while other processes used ${load.otherCores.toFixed(2)} cores and the hypervisor took ${load.stealPercent.toFixed(1)} % of CPU time: the interval is wider, and a single run's ratio can move by a few percent`;
}

function details(verdict: JudgedVerdict, results: LoadedResult[], text: (s: string) => string): string {
  const hosts = new Map<string, BenchResult['host']>();
  for (const { result } of results) hosts.set(JSON.stringify(result.host), result.host);
  const lines = ['<details><summary>Hosts, protocol and caveats</summary>', ''];
  for (const host of hosts.values()) {
    lines.push(
      `- Host: ${text(host.cpuModel)}, ${host.physicalCores} cores / ${host.logicalCores} threads, ${(host.ramBytes / 2 ** 30).toFixed(1)} GiB, ${text(host.os)} ${text(host.kernel)}, Node ${text(host.node)}, onnxruntime ${text(host.onnxruntime)}; ISA ${text(host.isaFlags.join(' '))}`,
    );
  }
  const protocols = new Set(
    results.map((r) => `${r.result.workload.protocol} protocol, ${r.result.latencyMs.n} timed runs per arm`),
  );
  for (const p of protocols) lines.push(`- ${p}`);
  if (results.some((r) => r.result.profile.mode === 'emulated')) {
    lines.push(
      '- Emulated profiles were measured on the host above; device figures are predictions from per-node profiles scaled by compute and bandwidth ratios. Their model error is unvalidated until real device runs measure it, so they inform and do not gate.',
    );
  }
  for (const { result } of results) {
    for (const note of (result.predicted as { notes?: string[] } | undefined)?.notes ?? [])
      lines.push(`- ${text(result.variantId)} on ${text(result.profile.id)}: ${text(note)}`);
    for (const finding of result.findings ?? [])
      lines.push(`- ❗ ${text(result.variantId)} on ${text(result.profile.id)}: ${text(finding)}`);
    const busy = busyHost(result);
    if (busy) lines.push(`- ${text(result.variantId)} on ${text(result.profile.id)}: ${busy}`);
  }
  for (const note of verdict.notes) lines.push(`- ${text(note)}`);
  lines.push('', '</details>');
  return lines.join('\n');
}

/** The Markdown for the PR comment and the job summary. */
export function renderGateReport(
  verdict: JudgedVerdict,
  results: LoadedResult[],
  options: ReportOptions = {},
): string {
  const limit = options.limit ?? COMMENT_LIMIT;
  const text = options.untrusted
    ? escapeMarkdown
    : (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  const head: string[] = [];
  if (options.marker) head.push(options.marker);
  head.push(headline(verdict));
  if (options.untrusted) {
    head.push(
      '> [!NOTE]\n> These results come from a fork pull request: they were produced by its code, so this verdict is advisory and no check run was created.',
    );
  }
  const profiles = [
    ...new Set(verdict.rules.map((r) => r.profileId).concat(results.map((r) => r.result.profile.id))),
  ].sort();
  const sections = profiles.map((profile) => {
    const rules = verdict.rules.filter((r) => r.profileId === profile);
    const profileResults = results.filter((r) => r.result.profile.id === profile).map((r) => r.result);
    const mode = profileResults.some((r) => r.profile.mode === 'emulated')
      ? 'emulated: measured on the runner, device figures predicted'
      : 'native';
    const rows = rules.map((r) => ruleRow(r, text));
    const functional = functionalSummary(profileResults, text);
    return {
      title: `### ${text(profile)} (${mode})${functional ? ` · arm64 functional check ${FUNCTIONAL_ICON[functional.status]} ${functional.status}` : ''}`,
      functional: functional?.lines,
      header:
        '| Variant | Metric | Value | Baseline | 95 % CI | Budget | Verdict |\n| --- | --- | --- | --- | --- | --- | --- |',
      rows,
      chart: chart(profileResults, text),
    };
  });
  const footer = options.runUrl
    ? `<sub>[Workflow run](${options.runUrl}) · slmops</sub>`
    : '<sub>slmops</sub>';
  const build = (withDetails: boolean, withCharts: boolean, maxRows: number): string => {
    const parts = [...head];
    let cut = 0;
    for (const s of sections) {
      const rows = s.rows.slice(0, maxRows);
      cut += s.rows.length - rows.length;
      parts.push(
        [
          s.title,
          '',
          rows.length ? `${s.header}\n${rows.join('\n')}` : '_No budget applies to these results._',
          ...(s.functional
            ? [
                '',
                'Functional check on arm64 under qemu-user (timings under emulation are not latencies):',
                ...s.functional,
              ]
            : []),
        ].join('\n'),
      );
      if (withCharts && s.chart) parts.push(s.chart);
    }
    if (cut)
      parts.push(
        `_${cut} rows were cut to stay under GitHub's comment limit; the full verdict is in verdict.json (job artifacts)._`,
      );
    if (withDetails) parts.push(details(verdict, results, text));
    else
      parts.push(
        "_Details were cut to stay under GitHub's comment limit; they are in the job summary and verdict.json._",
      );
    parts.push(footer);
    return parts.join('\n\n');
  };
  let body = build(true, true, Number.POSITIVE_INFINITY);
  if (body.length <= limit) return body;
  body = build(false, true, Number.POSITIVE_INFINITY);
  if (body.length <= limit) return body;
  body = build(false, false, Number.POSITIVE_INFINITY);
  for (let rows = 200; body.length > limit && rows >= 0; rows = rows > 10 ? Math.floor(rows / 2) : rows - 1)
    body = build(false, false, rows);
  return body.slice(0, limit);
}
