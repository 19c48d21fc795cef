/** Check runs (created by the GitHub Actions app, as with a `GITHUB_TOKEN`). */
import { annotationJson, checkRunJson, GITHUB_ACTIONS_APP } from '../representations.ts';
import { type Annotation, type CheckRun, resolveCommit } from '../state.ts';
import {
  intParam,
  json,
  notFound,
  paginate,
  type Reply,
  type Route,
  type RouteContext,
  stringParam,
  unprocessable,
} from './common.ts';

interface CheckRunBody {
  name?: string;
  head_sha?: string;
  details_url?: string;
  external_id?: string;
  status?: CheckRun['status'];
  started_at?: string;
  conclusion?: string;
  completed_at?: string;
  output?: { title?: string; summary?: string; text?: string; annotations?: Annotation[] };
}

/**
 * Applies a create or update body as GitHub does: a `conclusion` completes the run (and sets `completed_at` when
 * not given); `completed` without a conclusion is refused; annotations add to those already on the run.
 */
function apply(ctx: RouteContext, run: CheckRun, body: CheckRunBody): Reply | undefined {
  const status = body.conclusion !== undefined ? 'completed' : (body.status ?? run.status);
  if (status === 'completed' && body.conclusion === undefined && run.conclusion === null) {
    return unprocessable(ctx, 'Invalid request.\n\n"conclusion" wasn\'t supplied.');
  }
  const now = ctx.state.now();
  if (body.name !== undefined) run.name = body.name;
  if (body.details_url !== undefined) run.detailsUrl = body.details_url;
  if (body.external_id !== undefined) run.externalId = body.external_id;
  if (body.started_at !== undefined) run.startedAt = body.started_at;
  run.status = status;
  if (body.conclusion !== undefined) run.conclusion = body.conclusion;
  if (status === 'completed') run.completedAt = body.completed_at ?? run.completedAt ?? now;
  if (body.output) {
    if (body.output.title !== undefined) run.output.title = body.output.title;
    if (body.output.summary !== undefined) run.output.summary = body.output.summary;
    if (body.output.text !== undefined) run.output.text = body.output.text;
    run.output.annotations.push(...(body.output.annotations ?? []));
  }
  run.history.push(body);
  return undefined;
}

function checkRunOf(ctx: RouteContext): CheckRun | undefined {
  return ctx.repo.checkRuns.get(intParam(ctx, 'check_run_id'));
}

export const checkRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/repos/{owner}/{repo}/check-runs',
    permission: 'checks=write',
    handle(ctx) {
      const body = ctx.body as CheckRunBody & { name: string; head_sha: string };
      const commit = resolveCommit(ctx.repo, body.head_sha);
      if (!commit || commit.sha !== body.head_sha.toLowerCase()) {
        return unprocessable(ctx, `No commit found for SHA: ${body.head_sha}`);
      }
      let suite = ctx.repo.checkSuites.get(commit.sha);
      if (suite === undefined) {
        suite = ctx.state.nextId();
        ctx.repo.checkSuites.set(commit.sha, suite);
      }
      const run: CheckRun = {
        id: ctx.state.nextId(),
        headSha: commit.sha,
        name: body.name,
        status: 'queued',
        conclusion: null,
        startedAt: ctx.state.now(),
        completedAt: null,
        detailsUrl: null,
        externalId: null,
        output: { title: null, summary: null, text: null, annotations: [] },
        checkSuiteId: suite,
        history: [],
      };
      const refused = apply(ctx, run, body);
      if (refused) return refused;
      ctx.repo.checkRuns.set(run.id, run);
      return json(201, checkRunJson(ctx.repo, run, ctx.urls));
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/check-runs/{check_run_id}',
    permission: 'checks=read',
    handle(ctx) {
      const run = checkRunOf(ctx);
      return run ? json(200, checkRunJson(ctx.repo, run, ctx.urls)) : notFound(ctx);
    },
  },
  {
    method: 'PATCH',
    path: '/repos/{owner}/{repo}/check-runs/{check_run_id}',
    permission: 'checks=write',
    handle(ctx) {
      const run = checkRunOf(ctx);
      if (!run) return notFound(ctx);
      const refused = apply(ctx, run, ctx.body as CheckRunBody);
      return refused ?? json(200, checkRunJson(ctx.repo, run, ctx.urls));
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations',
    permission: 'checks=read',
    handle(ctx) {
      const run = checkRunOf(ctx);
      if (!run) return notFound(ctx);
      const blob = `${ctx.urls.web}/${ctx.repo.owner.login}/${ctx.repo.name}/blob/${run.headSha}`;
      const page = paginate(ctx, run.output.annotations);
      return json(
        200,
        page.items.map((a) => annotationJson(a, blob)),
        page.headers,
      );
    },
  },
  {
    method: 'GET',
    path: '/repos/{owner}/{repo}/commits/{ref}/check-runs',
    permission: 'checks=read',
    handle(ctx) {
      const ref = stringParam(ctx, 'ref');
      const commit = resolveCommit(ctx.repo, ref);
      if (!commit) return unprocessable(ctx, `No commit found for SHA: ${ref}`);
      const { check_name: name, status, filter, app_id: appId } = ctx.query;
      let runs = [...ctx.repo.checkRuns.values()]
        .filter((r) => r.headSha === commit.sha)
        .filter((r) => name === undefined || r.name === name)
        .filter((r) => status === undefined || r.status === status)
        .filter(() => appId === undefined || appId === GITHUB_ACTIONS_APP.id)
        .sort((a, b) => b.id - a.id);
      if (filter !== 'all') {
        const seen = new Set<string>();
        runs = runs.filter((r) => !seen.has(r.name) && seen.add(r.name) !== undefined);
      }
      const page = paginate(ctx, runs);
      return json(
        200,
        { total_count: runs.length, check_runs: page.items.map((r) => checkRunJson(ctx.repo, r, ctx.urls)) },
        page.headers,
      );
    },
  },
];
