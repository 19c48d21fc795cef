/** Budgets: the defaults when a repository has no budgets file, and the limits that apply to one result. */
import { existsSync } from 'node:fs';
import { loadBudgets } from '../config/load.ts';
import type { BudgetLimits, BudgetsDocument } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import { globToRegExp } from '../util/glob.ts';

/** Without a budgets file: fail a clear slowdown of more than 5 %, a size growth of more than 2 %. */
export const DEFAULT_BUDGETS: BudgetsDocument = {
  schema: 'slmops.budgets/v1',
  defaults: { latency: { ratioTolerance: 0.05 }, sizeBytes: { growth: 0.02 } },
  rules: [],
  onInconclusive: 'warn',
  acceptLabel: 'slmops:accept-regression',
};

export async function loadBudgetsOrDefault(
  path: string | undefined,
): Promise<{ budgets: BudgetsDocument; source: string }> {
  if (!path) return { budgets: DEFAULT_BUDGETS, source: 'defaults' };
  if (!existsSync(path)) {
    throw new ConfigurationError('budgets file not found', {
      subject: path,
      fix: 'Check the path, or leave the input empty to use the default budgets',
    });
  }
  return { budgets: await loadBudgets(path), source: path };
}

/** Whether a budgets rule applies to (variant, profile): its profile (or `*`) and its variant glob, if any. */
export function ruleMatches(
  rule: BudgetsDocument['rules'][number],
  variantId: string,
  profileId: string,
): boolean {
  return (
    (rule.profile === '*' || rule.profile === profileId) &&
    (!rule.variant || globToRegExp(rule.variant).test(variantId))
  );
}

/** Merged limits for (variant, profile): defaults, then every matching rule in order (later values win). */
export function limitsFor(budgets: BudgetsDocument, variantId: string, profileId: string): BudgetLimits {
  const merged: Record<string, Record<string, number>> = {};
  const apply = (limits: BudgetLimits | undefined) => {
    for (const [metric, values] of Object.entries(limits ?? {})) {
      if (typeof values !== 'object' || values === null) continue;
      merged[metric] = { ...(merged[metric] ?? {}), ...(values as Record<string, number>) };
    }
  };
  apply(budgets.defaults);
  for (const rule of budgets.rules) {
    if (ruleMatches(rule, variantId, profileId)) {
      const { profile: _p, variant: _v, ...limits } = rule;
      apply(limits);
    }
  }
  return merged as BudgetLimits;
}
