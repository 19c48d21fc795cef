/** Git refs and commits. */
import { commitJson, refJson } from '../representations.ts';
import { resolveCommit } from '../state.ts';
import { json, notFound, type Route, stringParam, unprocessable } from './common.ts';

export const gitRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/git/ref/{ref}',
    permission: 'contents=read',
    handle(ctx) {
      const ref = `refs/${stringParam(ctx, 'ref')}`;
      const sha = ctx.repo.refs.get(ref);
      return sha ? json(200, refJson(ctx.repo, ref, sha, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'POST',
    path: '/repos/{owner}/{repo}/git/refs',
    permission: 'contents=write',
    handle(ctx) {
      const { ref, sha } = ctx.body as { ref: string; sha: string };
      if (!/^refs\/[^/]+\/.+/.test(ref) || /\.\.|[\s~^:?*[\\]|\/$|\.lock$/.test(ref)) {
        return unprocessable(ctx, `${ref} is not a valid ref name.`);
      }
      if (ctx.repo.refs.has(ref)) return unprocessable(ctx, 'Reference already exists');
      const commit = ctx.repo.commits.get(sha.toLowerCase());
      if (!commit) return unprocessable(ctx, 'Object does not exist');
      ctx.repo.refs.set(ref, commit.sha);
      const representation = refJson(ctx.repo, ref, commit.sha, ctx.urls);
      return json(201, representation, { location: String(representation.url) });
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/commits/{ref}',
    permission: 'contents=read',
    handle(ctx) {
      const ref = stringParam(ctx, 'ref');
      const commit = resolveCommit(ctx.repo, ref);
      return commit
        ? json(200, commitJson(ctx.repo, commit, ctx.urls))
        : unprocessable(ctx, `No commit found for SHA: ${ref}`);
    },
  },
];
