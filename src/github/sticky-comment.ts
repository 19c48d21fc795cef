/**
 * One comment per pull request per workflow, found again by a hidden marker across every page and edited in
 * place, on re-runs too. The body carries a digest of its content, so `on-change` can tell an unchanged report.
 */
import { createHash } from 'node:crypto';
import type { CommentPort } from './ports.ts';

export type CommentPolicy = 'always' | 'on-change' | 'on-failure' | 'never';
export type CommentOperation = 'created' | 'updated' | 'unchanged';

export function markerFor(workflow: string): string {
  return `<!-- slmops:gate:${workflow.replace(/-->/g, '')} -->`;
}

function digestLine(content: string): string {
  return `<!-- slmops:digest:${createHash('sha256').update(content).digest('hex').slice(0, 16)} -->`;
}

const DIGEST = /<!-- slmops:digest:([0-9a-f]+) -->/;

export interface UpsertInput {
  issueNumber: number;
  marker: string;
  /** The comment text; `stableContent` (without run links or times) decides whether it changed. */
  body: string;
  stableContent: string;
  policy: CommentPolicy;
  failing: boolean;
}

export interface UpsertResult {
  operation: CommentOperation;
  commentId?: number;
}

export async function upsertComment(port: CommentPort, input: UpsertInput): Promise<UpsertResult> {
  if (input.policy === 'never') return { operation: 'unchanged' };
  const comments = await port.listComments(input.issueNumber);
  const existing = comments.find((c) => c.body.includes(input.marker));
  const digest = digestLine(input.stableContent);
  const body = input.body.includes(input.marker)
    ? `${input.body}\n${digest}`
    : `${input.marker}\n${input.body}\n${digest}`;
  if (!existing) {
    if (input.policy === 'on-failure' && !input.failing) return { operation: 'unchanged' };
    const created = await port.createComment(input.issueNumber, body);
    return { operation: 'created', commentId: created.id };
  }
  const previous = existing.body.match(DIGEST)?.[1];
  if (previous && digest.includes(previous) && (input.policy === 'on-change' || existing.body === body)) {
    return { operation: 'unchanged', commentId: existing.id };
  }
  // on-failure keeps an existing comment current (a fixed regression shows as passing), but never adds one.
  const updated = await port.updateComment(existing.id, body);
  return { operation: 'updated', commentId: updated.id };
}
