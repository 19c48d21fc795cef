/** Workflow runs and their artifacts. */
import { artifactJson, workflowRunJson } from '../representations.ts';
import { errorBody, intParam, json, notFound, paginate, type Route, stringParam } from './common.ts';

export const actionsRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/actions/runs/{run_id}',
    permission: 'actions=read',
    handle(ctx) {
      const run = ctx.repo.workflowRuns.get(intParam(ctx, 'run_id'));
      return run ? json(200, workflowRunJson(ctx.repo, run, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts',
    permission: 'actions=read',
    handle(ctx) {
      const runId = intParam(ctx, 'run_id');
      if (!ctx.repo.workflowRuns.has(runId)) return notFound(ctx);
      const { name, direction } = ctx.query;
      const artifacts = [...ctx.repo.artifacts.values()]
        .filter((a) => a.runId === runId && (name === undefined || a.name === name))
        .sort((a, b) => (direction === 'asc' ? a.id - b.id : b.id - a.id));
      const page = paginate(ctx, artifacts);
      return json(
        200,
        {
          total_count: artifacts.length,
          artifacts: page.items.map((a) => artifactJson(ctx.repo, a, ctx.urls)),
        },
        page.headers,
      );
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/actions/artifacts/{artifact_id}',
    permission: 'actions=read',
    handle(ctx) {
      const artifact = ctx.repo.artifacts.get(intParam(ctx, 'artifact_id'));
      return artifact ? json(200, artifactJson(ctx.repo, artifact, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}',
    permission: 'actions=read',
    handle(ctx) {
      const artifact = ctx.repo.artifacts.get(intParam(ctx, 'artifact_id'));
      if (!artifact || stringParam(ctx, 'archive_format') !== 'zip') return notFound(ctx);
      if (artifact.expired)
        return { status: 410, body: errorBody('Artifact has expired', ctx.op.documentationUrl, 410) };
      return {
        status: 302,
        headers: { location: ctx.objectUrl('artifacts', artifact.id, `${artifact.name}.zip`) },
      };
    },
  },
];
