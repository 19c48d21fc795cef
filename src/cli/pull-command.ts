import type { Command } from 'commander';
import { ConfigurationError } from '../errors.ts';
import { connectReleases, lineLogger, parseRepository } from '../publish/connect.ts';
import { pull, unpackBundle } from '../publish/pull.ts';
import { checkOutputFolder } from '../util/output-path.ts';
import type { CliIo } from './io.ts';

interface PullFlags {
  out: string;
  repo?: string;
  channel?: string;
  release?: string;
  model?: string;
  profile?: string;
  bundle?: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerPull(program: Command, io: CliIo): void {
  program
    .command('pull')
    .description('download a published version, check every file, then move it into place at once')
    .requiredOption(
      '--out <dir>',
      'destination folder (new, empty, or an earlier pull: replaced only once all checks pass)',
    )
    .option('--repo <owner/name>', 'the repository (default: GITHUB_REPOSITORY)')
    .option('--channel <name>', 'the rollout channel to follow (default: stable)')
    .option('--release <version>', 'a version instead of a channel, e.g. 1.2.0')
    .option(
      '--profile <id>',
      'pull only the variant recommended for this device profile (e.g. raspberry-pi-5)',
    )
    .option('--model <name>', 'the model, when the repository publishes several')
    .option('--bundle <file>', 'install from a bundle written by slmops pack instead of from a release')
    .option('--quiet', 'no progress on standard error')
    .option('--json', 'print what was pulled as JSON')
    .action(async (flags: PullFlags) => {
      let outcome: Awaited<ReturnType<typeof pull>>;
      checkOutputFolder(flags.out, '--out');
      if (flags.bundle) {
        if (flags.repo || flags.channel || flags.release || flags.profile) {
          throw new ConfigurationError(
            '--bundle installs an archive: --repo, --channel, --release and --profile do not apply',
            {
              subject: 'slmops pull',
            },
          );
        }
        outcome = await unpackBundle(flags.bundle, flags.out);
      } else {
        if (flags.channel && flags.release) {
          throw new ConfigurationError('give --channel or --release, not both', { subject: 'slmops pull' });
        }
        const repository = parseRepository(flags.repo ?? process.env.GITHUB_REPOSITORY);
        const log = lineLogger(io.err, { quiet: Boolean(flags.quiet) });
        outcome = await pull({
          releases: connectReleases(repository, process.env, log),
          repository: `${repository.owner}/${repository.repo}`,
          out: flags.out,
          ...(flags.channel ? { channel: flags.channel } : {}),
          ...(flags.release ? { version: flags.release } : {}),
          ...(flags.model ? { model: flags.model } : {}),
          ...(flags.profile ? { profile: flags.profile } : {}),
          log,
        });
      }
      if (flags.json) {
        io.out(JSON.stringify(outcome, null, 2));
        return;
      }
      const bytes = outcome.files.reduce((n, f) => n + f.bytes, 0);
      io.out(
        `${outcome.name} ${outcome.version}${outcome.variant ? ` (${outcome.variant} for ${outcome.profile})` : ''}: ${outcome.files.length} files, ${bytes} bytes, verified, in ${outcome.out}`,
      );
    });
}
