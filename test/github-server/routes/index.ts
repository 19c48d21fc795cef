/** Every operation the test server implements. Add a route here and the OpenAPI extract follows (see docs/testing-github.md). */
import { actionsRoutes } from './actions.ts';
import { checkRoutes } from './checks.ts';
import type { Route } from './common.ts';
import { gitRoutes } from './git.ts';
import { issueRoutes } from './issues.ts';
import { pullRoutes } from './pulls.ts';
import { releaseRoutes } from './releases.ts';

export const routes: readonly Route[] = [
  ...issueRoutes,
  ...pullRoutes,
  ...checkRoutes,
  ...releaseRoutes,
  ...gitRoutes,
  ...actionsRoutes,
];
