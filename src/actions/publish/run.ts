/**
 * The publish action: bundle the model folder, publish it as a release (idempotent, verified, race-safe), update
 * the release index and channel, and write the outputs and the job summary.
 */
import path from 'node:path';
import type { Logger } from '../../action-kit/logger.ts';
import type { OutputValue } from '../../action-kit/outputs.ts';
import { markdownTable } from '../../action-kit/summary.ts';
import { ConfigurationError } from '../../errors.ts';
import { createGitHubClient } from '../../github/client.ts';
import { DEFAULT_PART_BYTES } from '../../publish/bundle.ts';
import { releasePort } from '../../publish/github-releases.ts';
import { type PublishOutcome, publishBundle } from '../../publish/publish.ts';
import type { VersionRequest } from '../../publish/semver.ts';
import { Inputs, type Outputs, type PublishInputs } from './inputs.ts';

export interface PublishDeps {
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
}

export interface PublishActionResult {
  readonly outputs: { readonly [K in (typeof Outputs)[keyof typeof Outputs]]: OutputValue };
  readonly summary: string;
  readonly outcome: PublishOutcome;
}

/** `SLMOPS_PART_BYTES`: the part size for files over the asset limit (for tests; default 2,000,000,000). */
export function partBytesFrom(env: NodeJS.ProcessEnv): number {
  const raw = env.SLMOPS_PART_BYTES;
  if (!raw) return DEFAULT_PART_BYTES;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(`'${raw}' is not a positive whole number of bytes`, {
      subject: 'SLMOPS_PART_BYTES',
    });
  }
  return value;
}

function repoOf(env: NodeJS.ProcessEnv): { owner: string; repo: string } {
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  if (!owner || !repo) {
    throw new ConfigurationError('GITHUB_REPOSITORY is not set', {
      subject: 'environment',
      fix: 'Run the action in a GitHub Actions workflow',
    });
  }
  return { owner, repo };
}

const HEADLINES: Record<PublishOutcome['result'], string> = {
  published: 'published',
  draft: 'uploaded and verified as a draft',
  unchanged: 'already published with the same model files (unchanged)',
  superseded: 'published by a concurrent run (superseded)',
};

export async function runPublishAction(
  inputs: PublishInputs,
  deps: PublishDeps,
): Promise<PublishActionResult> {
  const { log, env } = deps;
  const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
  const repo = repoOf(env);
  const client = createGitHubClient({ token: inputs.githubToken, log });
  const request: VersionRequest | undefined = inputs.version
    ? { kind: 'exact', version: inputs.version }
    : inputs.bump
      ? { kind: 'bump', level: inputs.bump }
      : undefined;
  const outcome = await publishBundle({
    dir: path.resolve(workspace, inputs.modelDir),
    ...(inputs.name ? { name: inputs.name } : {}),
    ...(inputs.include ? { include: inputs.include } : {}),
    ...(inputs.results ? { results: inputs.results } : {}),
    ...(request ? { request } : {}),
    ...(inputs.channel ? { channel: inputs.channel } : {}),
    draft: inputs.draft,
    env,
    cwd: workspace,
    partBytes: partBytesFrom(env),
    releases: releasePort(client, repo),
    log,
    versionSubject: `input '${Inputs.Version}'`,
    repository: `${repo.owner}/${repo.repo}`,
  });
  if (outcome.result === 'superseded') {
    log.info(
      `${outcome.tag} is published by another run (release ${outcome.releaseId}); this run deleted its own draft`,
    );
  }
  const rows = outcome.assets.map((a) => [a.name, String(a.bytes), `\`${a.sha256}\``]);
  const summary = [
    `### slmops publish: ${outcome.name} ${outcome.version} ${HEADLINES[outcome.result]}`,
    '',
    `Release [${outcome.tag}](${outcome.releaseUrl})${inputs.channel ? `, channel \`${inputs.channel}\`` : ''}.`,
    '',
    markdownTable(['Asset', 'Bytes', 'sha256'], rows),
    '',
  ].join('\n');
  return {
    outputs: {
      'release-id': outcome.releaseId,
      'release-url': outcome.releaseUrl,
      version: outcome.version,
      tag: outcome.tag,
      result: outcome.result,
      assets: outcome.assets,
      subjects: outcome.subjects,
    },
    summary,
    outcome,
  };
}
