/** `slmops gate`: results + budgets → verdict and its report. Knows nothing of GitHub. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { validateDocument } from '../config/load.ts';
import { renderGateReport } from '../report/gate-report.ts';
import { loadBudgetsOrDefault } from './budgets.ts';
import { type JudgedVerdict, judge } from './judge.ts';
import { type LoadedResult, loadResults } from './results.ts';

export interface GateOptions {
  results: readonly string[];
  /** Budgets file; undefined → the defaults. */
  budgets?: string;
  labels?: readonly string[];
  acceptLabel?: string;
  untrusted?: boolean;
  gatePredictions?: boolean;
  cwd?: string;
}

export interface GateOutcome {
  verdict: JudgedVerdict;
  results: LoadedResult[];
  onInconclusive: 'warn' | 'fail' | 'rerun';
}

export async function runGate(options: GateOptions): Promise<GateOutcome> {
  const cwd = options.cwd ?? process.cwd();
  const { budgets, source } = await loadBudgetsOrDefault(
    options.budgets ? resolve(cwd, options.budgets) : undefined,
  );
  const results = await loadResults(options.results, cwd);
  const verdict = judge(results, budgets, {
    ...(options.labels ? { labels: options.labels } : {}),
    ...(options.acceptLabel ? { acceptLabel: options.acceptLabel } : {}),
    ...(options.untrusted ? { untrusted: true } : {}),
    ...(options.gatePredictions ? { gatePredictions: true } : {}),
  });
  verdict.budgetsSource = source;
  validateDocument('verdict', verdict, 'verdict');
  return { verdict, results, onInconclusive: budgets.onInconclusive ?? 'warn' };
}

/** Writes verdict.json atomically. */
export function writeVerdict(verdict: JudgedVerdict, path: string): void {
  const target = resolve(path);
  mkdirSync(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify(verdict, null, 2)}\n`);
  renameSync(temp, target);
}

export { renderGateReport };
