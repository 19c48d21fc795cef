/** Which weights a pass touches: op and name filters, a minimum size, and keeping the first and last layers. */
import { globToRegExp } from '../util/glob.ts';
import type { Selection } from './recipe-spec.ts';

export interface Candidate {
  /** Operator type of the consuming node (MatMul, Gemm, Conv, Gather…). */
  op: string;
  nodeName: string;
  weightName: string;
  elements: number;
}

function matchesAny(patterns: string[], ...names: string[]): boolean {
  return patterns.some((p) => {
    const re = globToRegExp(p);
    return names.some((n) => n !== '' && re.test(n));
  });
}

/**
 * Filters candidates (given in graph order) by the selection. Name patterns are globs (`*`, `?`) or `/regex/`, and
 * match either the node name or the weight's initializer name. `keepFirstLast` drops the first and the last
 * candidate that survive the other filters (the embedding-side and head-side layers, most sensitive to error).
 */
export function applySelection<T extends Candidate>(candidates: T[], select: Selection): T[] {
  const kept = candidates.filter((c) => {
    if (select.includeOps.length && !select.includeOps.includes(c.op)) return false;
    if (select.excludeOps.includes(c.op)) return false;
    if (select.includeNames.length && !matchesAny(select.includeNames, c.nodeName, c.weightName))
      return false;
    if (matchesAny(select.excludeNames, c.nodeName, c.weightName)) return false;
    return c.elements >= select.minElements;
  });
  if (select.keepFirstLast && kept.length > 0) return kept.slice(1, -1);
  return kept;
}
