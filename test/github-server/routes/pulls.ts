/** Pull requests. */
import { pullJson } from '../representations.ts';
import { intParam, json, notFound, type Route } from './common.ts';

export const pullRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/pulls/{pull_number}',
    permission: 'pull_requests=read',
    handle(ctx) {
      const pull = ctx.repo.pulls.get(intParam(ctx, 'pull_number'));
      return pull ? json(200, pullJson(ctx.repo, pull, ctx.urls)) : notFound(ctx);
    },
  },
];
