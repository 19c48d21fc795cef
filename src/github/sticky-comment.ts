/**
 * One comment per pull request per workflow, found again by a hidden marker across every page and edited in
 * place, on re-runs too. The body carries a digest of its content, so `on-change` can tell an unchanged report.
 */
import { createHash } from 'node:crypto';
import type { CommentPort, IssueComment } from './ports.ts';

export type CommentPolicy = 'always' | 'on-change' | 'on-failure' | 'never';
export type CommentOperation = 'created' | 'updated' | 'unchanged';

export function markerFor(workflow: string): string {
  return `<!-- slmops:gate:${workflow.replace(/-->/g, '')} -->`;
}

function digestLine(content: string): string {
  return `<!-- slmops:digest:${createHash('sha256').update(content).digest('hex').slice(0, 16)} -->`;
}

const DIGEST = /<!-- slmops:digest:([0-9a-f]+) -->/;

/** Characters the digest line adds to a body (with room to spare): a report must leave them under GitHub's limit. */
export const DIGEST_ROOM = 64;

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

/** Ours: the marker opens the body (a human who quotes the marker further down is not matched). */
const isOurs = (marker: string) => (c: IssueComment) => c.body.trimStart().startsWith(marker);

export async function upsertComment(port: CommentPort, input: UpsertInput): Promise<UpsertResult> {
  if (input.policy === 'never') return { operation: 'unchanged' };
  const comments = await port.listComments(input.issueNumber);
  const existing = comments.filter(isOurs(input.marker)).sort((a, b) => a.id - b.id)[0];
  const digest = digestLine(input.stableContent);
  const body = input.body.includes(input.marker)
    ? `${input.body}\n${digest}`
    : `${input.marker}\n${input.body}\n${digest}`;
  if (existing) {
    const previous = existing.body.match(DIGEST)?.[1];
    if (previous && digest.includes(previous) && (input.policy === 'on-change' || existing.body === body)) {
      return { operation: 'unchanged', commentId: existing.id };
    }
    // on-failure keeps an existing comment current (a fixed regression shows as passing), but never adds one.
    const updated = await port.updateComment(existing.id, body);
    if (updated) return { operation: 'updated', commentId: updated.id };
    // Deleted since it was listed: post it again.
  } else if (input.policy === 'on-failure' && !input.failing) {
    return { operation: 'unchanged' };
  }
  const created = await port.createComment(input.issueNumber, body);
  return settle(port, input, body, created.id);
}

/**
 * Two runs on one pull request can both find no comment and both create one. After creating, look again: the
 * oldest comment of the marker stays and takes this body, and a newer one this run made is deleted, so the pull
 * request is back to one comment whichever run looks last.
 */
async function settle(
  port: CommentPort,
  input: UpsertInput,
  body: string,
  createdId: number,
): Promise<UpsertResult> {
  const ours = (await port.listComments(input.issueNumber))
    .filter(isOurs(input.marker))
    .sort((a, b) => a.id - b.id);
  const oldest = ours[0];
  if (!oldest || oldest.id === createdId) return { operation: 'created', commentId: createdId };
  const updated = await port.updateComment(oldest.id, body);
  if (!updated) return { operation: 'created', commentId: createdId };
  await port.deleteComment(createdId);
  return { operation: 'updated', commentId: oldest.id };
}
