/** Issue (and pull request) comments and labels. */
import { commentJson, labelJson } from '../representations.ts';
import type { Comment, Issue, Label, Repo } from '../state.ts';
import {
  intParam,
  json,
  notFound,
  paginate,
  type Reply,
  type Route,
  type RouteContext,
  stringParam,
  validationFailed,
} from './common.ts';

const COMMENTS_PERMISSION = 'issues=write; pull_requests=write';

function issueOf(ctx: RouteContext): Issue | undefined {
  return ctx.repo.issues.get(intParam(ctx, 'issue_number'));
}

function commentOf(ctx: RouteContext): Comment | undefined {
  return ctx.repo.comments.get(intParam(ctx, 'comment_id'));
}

function tooLong(ctx: RouteContext, body: string): Reply | undefined {
  const max = ctx.state.limits.maxCommentLength;
  if (body.length <= max) return undefined;
  return validationFailed(ctx, [
    {
      resource: 'IssueComment',
      code: 'custom',
      field: 'body',
      message: `body is too long (maximum is ${max} characters)`,
    },
  ]);
}

/** The repository's label of that name, created (grey, as GitHub does) when the repository has none. */
export function ensureLabel(ctx: Pick<RouteContext, 'state'>, repo: Repo, name: string): Label {
  let label = repo.labels.get(name.toLowerCase());
  if (!label) {
    label = { id: ctx.state.nextId(), name, color: 'ededed', description: null, default: false };
    repo.labels.set(name.toLowerCase(), label);
  }
  return label;
}

function issueLabelsJson(ctx: RouteContext, issue: Issue): unknown[] {
  return issue.labels.flatMap((name) => {
    const label = ctx.repo.labels.get(name.toLowerCase());
    return label ? [labelJson(ctx.repo, label, ctx.urls)] : [];
  });
}

export const issueRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    permission: 'issues=read; pull_requests=read',
    handle(ctx) {
      const issue = issueOf(ctx);
      if (!issue) return notFound(ctx);
      const since = typeof ctx.query.since === 'string' ? Date.parse(ctx.query.since) : undefined;
      const comments = [...ctx.repo.comments.values()]
        .filter((c) => c.issueNumber === issue.number)
        .filter((c) => since === undefined || Date.parse(c.updatedAt) >= since)
        .sort((a, b) => a.id - b.id);
      const page = paginate(ctx, comments);
      return json(
        200,
        page.items.map((c) => commentJson(ctx.repo, c, ctx.urls)),
        page.headers,
      );
    },
  },
  {
    method: 'POST',
    path: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    permission: COMMENTS_PERMISSION,
    handle(ctx) {
      const issue = issueOf(ctx);
      if (!issue) return notFound(ctx);
      const body = (ctx.body as { body: string }).body;
      const refused = tooLong(ctx, body);
      if (refused) return refused;
      const now = ctx.state.now();
      const comment: Comment = {
        id: ctx.state.nextId(),
        issueNumber: issue.number,
        body,
        user: ctx.actor,
        createdAt: now,
        updatedAt: now,
      };
      ctx.repo.comments.set(comment.id, comment);
      issue.updatedAt = now;
      const representation = commentJson(ctx.repo, comment, ctx.urls);
      return json(201, representation, { location: String(representation.url) });
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    permission: 'issues=read; pull_requests=read',
    handle(ctx) {
      const comment = commentOf(ctx);
      return comment ? json(200, commentJson(ctx.repo, comment, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'PATCH',
    path: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    permission: COMMENTS_PERMISSION,
    handle(ctx) {
      const comment = commentOf(ctx);
      if (!comment) return notFound(ctx);
      const body = (ctx.body as { body: string }).body;
      const refused = tooLong(ctx, body);
      if (refused) return refused;
      comment.body = body;
      comment.updatedAt = ctx.state.now();
      return json(200, commentJson(ctx.repo, comment, ctx.urls));
    },
  },
  {
    method: 'DELETE',
    path: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    permission: COMMENTS_PERMISSION,
    handle(ctx) {
      const comment = commentOf(ctx);
      if (!comment) return notFound(ctx);
      ctx.repo.comments.delete(comment.id);
      return { status: 204 };
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/issues/{issue_number}/labels',
    permission: 'issues=read; pull_requests=read',
    handle(ctx) {
      const issue = issueOf(ctx);
      if (!issue) return notFound(ctx);
      const page = paginate(ctx, issueLabelsJson(ctx, issue));
      return json(200, page.items, page.headers);
    },
  },
  {
    method: 'POST',
    path: '/repos/{owner}/{repo}/issues/{issue_number}/labels',
    permission: COMMENTS_PERMISSION,
    handle(ctx) {
      const issue = issueOf(ctx);
      if (!issue) return notFound(ctx);
      const requested = (ctx.body as { labels?: (string | { name: string })[] } | undefined)?.labels ?? [];
      for (const entry of requested) {
        const name = typeof entry === 'string' ? entry : entry.name;
        const label = ensureLabel(ctx, ctx.repo, name);
        if (!issue.labels.some((n) => n.toLowerCase() === label.name.toLowerCase()))
          issue.labels.push(label.name);
      }
      issue.updatedAt = ctx.state.now();
      return json(200, issueLabelsJson(ctx, issue));
    },
  },
  {
    method: 'DELETE',
    path: '/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}',
    permission: COMMENTS_PERMISSION,
    handle(ctx) {
      const issue = issueOf(ctx);
      if (!issue) return notFound(ctx);
      const name = stringParam(ctx, 'name').toLowerCase();
      const index = issue.labels.findIndex((n) => n.toLowerCase() === name);
      if (index < 0) return notFound(ctx, 'Label does not exist');
      issue.labels.splice(index, 1);
      issue.updatedAt = ctx.state.now();
      return json(200, issueLabelsJson(ctx, issue));
    },
  },
];
