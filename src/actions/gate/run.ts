/**
 * The gate action: judge the results, write verdict.json and the job summary, keep one sticky PR comment, create
 * a check run, and fail the step when the gate fails. Mode `comment` is the second half of the fork-safe
 * two-workflow pattern: a `workflow_run` job downloads the results the `pull_request` run uploaded and posts them.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unzipSync } from 'fflate';
import type { Logger } from '../../action-kit/logger.ts';
import type { OutputValue } from '../../action-kit/outputs.ts';
import { ConfigurationError } from '../../errors.ts';
import { gateFails, type JudgedVerdict } from '../../gate/judge.ts';
import { renderGateReport, runGate, writeVerdict } from '../../gate/run-gate.ts';
import { createGitHubClient, type GitHubClient, GitHubUnavailableError } from '../../github/client.ts';
import { checkPort, commentPort, guard, pullRequestPort, type Repo } from '../../github/octokit-ports.ts';
import { type Annotation, WriteRefusedError } from '../../github/ports.ts';
import { DIGEST_ROOM, markerFor, upsertComment } from '../../github/sticky-comment.ts';
import { COMMENT_LIMIT } from '../../report/gate-report.ts';
import { globToRegExp } from '../../util/glob.ts';
import { DEFAULT_BUDGETS, type GateInputs, Outputs } from './inputs.ts';

export interface GateDeps {
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
}

export interface GateActionResult {
  readonly outputs: { readonly [K in (typeof Outputs)[keyof typeof Outputs]]: OutputValue };
  readonly summary: string;
  readonly failed: boolean;
  readonly verdict: JudgedVerdict;
}

interface PullRequestEvent {
  pull_request?: {
    number: number;
    head?: { sha: string; repo?: { full_name?: string } | null };
    base?: { repo?: { full_name?: string } };
    labels?: { name: string }[];
  };
  workflow_run?: {
    id: number;
    head_sha: string;
    head_repository?: { full_name?: string } | null;
    repository?: { full_name?: string };
    pull_requests?: { number: number; head: { sha: string } }[];
    html_url?: string;
  };
  merge_group?: { head_sha: string };
  repository?: { full_name: string };
}

/** The triggering event; a missing or unreadable event file is a warning (no pull request to comment on). */
function readEvent(env: NodeJS.ProcessEnv, log: Logger): PullRequestEvent {
  if (!env.GITHUB_EVENT_PATH) {
    log.warning('GITHUB_EVENT_PATH is not set: no event to read, so no pull request to comment on');
    return {};
  }
  try {
    const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as PullRequestEvent;
    return event && typeof event === 'object' ? event : {};
  } catch (error) {
    log.warning(
      `cannot read the event file ${env.GITHUB_EVENT_PATH} (${(error as Error).message}): no pull request to comment on`,
    );
    return {};
  }
}

function repoOf(env: NodeJS.ProcessEnv, event: PullRequestEvent): Repo | undefined {
  const full = env.GITHUB_REPOSITORY ?? event.repository?.full_name;
  const [owner, repo] = full?.split('/') ?? [];
  return owner && repo ? { owner, repo } : undefined;
}

/**
 * The pull request the results name, if GitHub confirms that its head is the commit and repository the triggering
 * run built; otherwise undefined (and a warning).
 */
async function confirmedPullRequest(
  number: number,
  run: NonNullable<PullRequestEvent['workflow_run']>,
  client: GitHubClient,
  repo: Repo,
  log: Logger,
): Promise<number | undefined> {
  let head: { sha: string; repository: string };
  try {
    head = await pullRequestPort(client, repo).head(number);
  } catch (error) {
    log.warning(`cannot read pull request #${number} (${(error as Error).message}): not posting a comment`);
    return undefined;
  }
  const runRepository = run.head_repository?.full_name ?? '';
  if (head.sha === run.head_sha && head.repository === runRepository) return number;
  log.warning(
    `the results name pull request #${number}, whose head is ${head.sha} from ${head.repository || 'a deleted repository'}, but the triggering run built ${run.head_sha} from ${runRepository || 'an unknown repository'}: not posting a comment`,
  );
  return undefined;
}

/** Downloads the artifacts of another run whose names match `pattern` (glob: `*`), unzipped into one folder. */
async function downloadRunArtifacts(
  client: GitHubClient,
  repo: Repo,
  runId: number,
  patterns: readonly string[],
  log: Logger,
): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slmops-results-'));
  try {
    await downloadInto(dir, client, repo, runId, patterns, log);
    return dir;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The matching artifacts of run `runId`, each unzipped into `dir`/<artifact name>. */
async function downloadInto(
  dir: string,
  client: GitHubClient,
  repo: Repo,
  runId: number,
  patterns: readonly string[],
  log: Logger,
): Promise<void> {
  const artifacts = await guard('list the artifacts of the triggering run', false, () =>
    client.paginate(client.rest.actions.listWorkflowRunArtifacts, { ...repo, run_id: runId, per_page: 100 }),
  );
  const matchers = patterns.map(globToRegExp);
  const chosen = artifacts.filter((a) => !a.expired && matchers.some((m) => m.test(a.name)));
  if (chosen.length === 0) {
    throw new ConfigurationError(
      `no artifact of run ${runId} matches ${patterns.join(', ')} (it has: ${artifacts.map((a) => a.name).join(', ') || 'none'})`,
      {
        subject: "input 'results'",
        fix: 'In comment mode, results name the artifacts the pull_request workflow uploaded (e.g. bench-*)',
      },
    );
  }
  for (const artifact of chosen) {
    log.info(`downloading artifact ${artifact.name} (${artifact.size_in_bytes} bytes) of run ${runId}`);
    const response = await guard('download an artifact of the triggering run', false, () =>
      client.rest.actions.downloadArtifact({ ...repo, artifact_id: artifact.id, archive_format: 'zip' }),
    );
    const files = unzipSync(new Uint8Array(response.data as ArrayBuffer));
    for (const [name, bytes] of Object.entries(files)) {
      if (name.endsWith('/')) continue;
      const target = path.resolve(dir, artifact.name, name);
      if (!target.startsWith(path.resolve(dir) + path.sep)) continue; // a zip entry that climbs out is ignored
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, bytes);
    }
  }
}

function annotations(verdict: JudgedVerdict, budgetsFile: string | undefined): Annotation[] {
  if (!budgetsFile) return [];
  return verdict.rules
    .filter((r) => !r.advisory && (r.verdict === 'fail' || r.verdict === 'inconclusive'))
    .map((r) => ({
      path: budgetsFile,
      startLine: 1,
      endLine: 1,
      level: r.verdict === 'fail' ? ('failure' as const) : ('warning' as const),
      title: `${r.variantId} on ${r.profileId}: ${r.metric} ${r.verdict}`,
      message: r.reason,
    }));
}

export async function runGateAction(inputs: GateInputs, deps: GateDeps): Promise<GateActionResult> {
  const { log, env } = deps;
  const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
  const event = readEvent(env, log);
  const repo = repoOf(env, event);
  const client = inputs.githubToken ? createGitHubClient({ token: inputs.githubToken, log }) : undefined;

  let resultsDir = workspace;
  let prNumber: number | undefined;
  let headSha: string | undefined;
  let untrusted = false;
  let labels: string[] = [];
  if (inputs.mode === 'comment') {
    const run = event.workflow_run;
    if (!run || !client || !repo) {
      throw new ConfigurationError("mode 'comment' runs in a workflow_run workflow with a token", {
        subject: "input 'mode'",
        fix: "Use mode 'comment' in the workflow triggered by `workflow_run` (see actions/gate/README.md), or mode 'gate'",
      });
    }
    resultsDir = await downloadRunArtifacts(client, repo, run.id, inputs.results, log);
    untrusted =
      (run.head_repository?.full_name ?? '') !== (run.repository?.full_name ?? env.GITHUB_REPOSITORY);
    headSha = run.head_sha;
  } else if (event.pull_request) {
    prNumber = event.pull_request.number;
    headSha = event.pull_request.head?.sha;
    untrusted =
      (event.pull_request.head?.repo?.full_name ?? '') !==
      (event.pull_request.base?.repo?.full_name ?? env.GITHUB_REPOSITORY ?? '');
    labels = (event.pull_request.labels ?? []).map((l) => l.name);
  } else {
    // A merge queue, a push or a manual run: the check run goes on the commit the run built, so a required
    // "slmops gate" check can pass in a merge queue too.
    headSha = event.merge_group?.head_sha ?? env.GITHUB_SHA;
  }

  const budgetsPath = path.resolve(workspace, inputs.budgets);
  const useDefaults = inputs.budgets === DEFAULT_BUDGETS && !existsSync(budgetsPath);
  if (useDefaults)
    log.info(`no ${DEFAULT_BUDGETS}: judging with the default budgets (latency +5 %, size +2 %)`);
  const outcome = await runGate({
    results: inputs.mode === 'comment' ? ['.'] : inputs.results,
    ...(useDefaults ? {} : { budgets: budgetsPath }),
    labels,
    ...(inputs.acceptLabel ? { acceptLabel: inputs.acceptLabel } : {}),
    untrusted,
    cwd: resultsDir,
  }).finally(() => {
    // Downloaded results are read by now; a self-hosted runner's temp folder is not emptied between jobs.
    if (resultsDir !== workspace) rmSync(resultsDir, { recursive: true, force: true });
  });
  const { verdict, results } = outcome;

  if (inputs.mode === 'comment') {
    // The PR number travels inside the results; it must agree with the run that produced them.
    const numbers = new Set(results.map((r) => r.result.pullRequest?.number).filter((n) => n !== undefined));
    const shas = new Set(results.map((r) => r.result.pullRequest?.headSha).filter((s) => s !== undefined));
    if (numbers.size === 1 && shas.size === 1 && [...shas][0] === headSha) {
      // A fork writes its own results: make sure the pull request they name is the one this run built, so a
      // fork cannot point the comment at another pull request.
      prNumber = await confirmedPullRequest([...numbers][0]!, event.workflow_run!, client!, repo!, log);
    } else {
      log.warning(
        `the results do not name one pull request whose head is ${headSha} (numbers: ${[...numbers].join(', ') || 'none'}; heads: ${[...shas].join(', ') || 'none'}): not posting a comment`,
      );
    }
  } else if (prNumber && client && repo && labels.length === 0) {
    try {
      labels = await pullRequestPort(client, repo).labels(prNumber);
    } catch (error) {
      log.debug(`could not read labels: ${(error as Error).message}`);
    }
  }

  const out = path.join(env.RUNNER_TEMP ?? os.tmpdir(), 'slmops', 'verdict.json');
  writeVerdict(verdict, out);
  const runUrl =
    env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
      : undefined;
  const marker = markerFor(env.GITHUB_WORKFLOW ?? 'slmops');
  const stable = renderGateReport(verdict, results, { untrusted });
  const body = renderGateReport(verdict, results, {
    untrusted,
    marker,
    ...(runUrl ? { runUrl } : {}),
    limit: COMMENT_LIMIT - DIGEST_ROOM,
  });
  const failing = gateFails(verdict, inputs.failOn, outcome.onInconclusive);
  let summary = renderGateReport(verdict, results, { untrusted, limit: 1_000_000 });

  let commentId: number | undefined;
  let operation: 'created' | 'updated' | 'unchanged' = 'unchanged';
  if (prNumber && client && repo && inputs.comment !== 'never') {
    try {
      const upserted = await upsertComment(commentPort(client, repo), {
        issueNumber: prNumber,
        marker,
        body,
        stableContent: stable.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, ''),
        policy: inputs.comment,
        failing,
      });
      operation = upserted.operation;
      commentId = upserted.commentId;
      log.info(`pull request comment ${operation}${commentId ? ` (id ${commentId})` : ''}`);
    } catch (error) {
      if (error instanceof WriteRefusedError) {
        log.warning(
          `${error.message}. The report is in the job summary instead (fork pull requests get read-only tokens; see the workflow_run pattern in actions/gate/README.md).`,
        );
      } else if (error instanceof GitHubUnavailableError) {
        log.warning(`${error.message}. The report is in the job summary instead; rerun the job to post it.`);
      } else throw error;
      summary = `> [!WARNING]\n> Could not comment on the pull request: ${(error as Error).message}\n\n${summary}`;
    }
  }
  if (!untrusted && client && repo && headSha && inputs.mode === 'gate') {
    try {
      const id = await checkPort(client, repo).createCheckRun({
        name: 'slmops gate',
        headSha,
        conclusion: verdict.overall === 'pass' ? 'success' : failing ? 'failure' : 'neutral',
        title: `slmops gate: ${verdict.overall}`,
        summary: stable,
        annotations: annotations(verdict, useDefaults ? undefined : path.relative(workspace, budgetsPath)),
        ...(runUrl ? { detailsUrl: runUrl } : {}),
      });
      log.info(`check run ${id} created`);
    } catch (error) {
      if (error instanceof WriteRefusedError)
        log.warning(`${error.message}: no check run (the token needs checks: write).`);
      else if (error instanceof GitHubUnavailableError) log.warning(`${error.message}: no check run.`);
      else throw error;
    }
  }
  const overall = verdict.acknowledgedBy && verdict.overall === 'pass' ? 'accepted' : verdict.overall;
  return {
    verdict,
    summary,
    failed: failing && inputs.mode === 'gate',
    outputs: {
      [Outputs.Verdict]: overall,
      [Outputs.CommentId]: commentId ?? '',
      [Outputs.CommentOperation]: operation,
    },
  };
}
