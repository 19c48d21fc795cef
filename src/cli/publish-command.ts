import type { Command } from 'commander';
import { DEFAULT_PART_BYTES } from '../publish/bundle.ts';
import { connectReleases, lineLogger, parseRepository } from '../publish/connect.ts';
import { publishBundle } from '../publish/publish.ts';
import { parseVersionRequest } from '../publish/semver.ts';
import type { CliIo } from './io.ts';

interface PublishFlags {
  repo?: string;
  name?: string;
  include: string[];
  results: string[];
  release?: string;
  channel?: string;
  draft?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerPublish(program: Command, io: CliIo): void {
  program
    .command('publish')
    .description(
      'publish a folder of models as a verified GitHub release (idempotent; token in GITHUB_TOKEN)',
    )
    .argument('<dir>', 'folder holding the models: every .onnx below it, with its external data')
    .option('--repo <owner/name>', 'the repository (default: GITHUB_REPOSITORY)')
    .option(
      '--release <version>',
      'version (1.2.0), or patch, minor, major to bump the last release (default: the pushed tag)',
    )
    .option(
      '--channel <name>',
      'point this rollout channel (canary, stable, …) at the version once published',
    )
    .option('--draft', 'upload and verify, but leave the release as a draft')
    .option('--name <name>', 'model name (default: from the compress reports, else the folder name)')
    .option(
      '--include <path...>',
      'extra files (tokenizer, model card): paths or globs relative to <dir>',
      [],
    )
    .option(
      '--results <path...>',
      'bench results, verdict.json, compress reports for results.json and the notes',
      [],
    )
    .option('--quiet', 'no progress on standard error')
    .option('--json', 'print the outcome as JSON')
    .action(async (dir: string, flags: PublishFlags) => {
      const repository = parseRepository(flags.repo ?? process.env.GITHUB_REPOSITORY);
      const log = lineLogger(io.err, { quiet: Boolean(flags.quiet) });
      const outcome = await publishBundle({
        dir,
        ...(flags.name ? { name: flags.name } : {}),
        include: flags.include,
        results: flags.results,
        ...(flags.release ? { request: parseVersionRequest(flags.release, '--release') } : {}),
        ...(flags.channel ? { channel: flags.channel } : {}),
        draft: Boolean(flags.draft),
        env: process.env,
        partBytes: Number(process.env.SLMOPS_PART_BYTES) || DEFAULT_PART_BYTES,
        releases: connectReleases(repository, process.env, log, { write: true }),
        log,
        versionSubject: '--release',
        repository: `${repository.owner}/${repository.repo}`,
      });
      if (flags.json) {
        const { manifest: _m, notes: _n, ...rest } = outcome;
        io.out(JSON.stringify(rest, null, 2));
        return;
      }
      io.out(`${outcome.result}: ${outcome.name} ${outcome.version} (${outcome.tag}) ${outcome.releaseUrl}`);
    });
}
