import type { Command } from 'commander';
import { connectReleases, lineLogger, parseRepository } from '../publish/connect.ts';
import { promote } from '../publish/promote.ts';
import type { CliIo } from './io.ts';

interface PromoteFlags {
  channel: string;
  repo?: string;
  model?: string;
  json?: boolean;
}

export function registerPromote(program: Command, io: CliIo): void {
  program
    .command('promote')
    .description('point a rollout channel (canary, stable, …) at a published version (token in GITHUB_TOKEN)')
    .argument('<version>', 'a published version, e.g. 1.2.0')
    .requiredOption('--channel <name>', 'the channel to move, e.g. canary or stable')
    .option('--repo <owner/name>', 'the repository (default: GITHUB_REPOSITORY)')
    .option('--model <name>', 'the model, when the repository publishes several')
    .option('--json', 'print the outcome as JSON')
    .action(async (version: string, flags: PromoteFlags) => {
      const repository = parseRepository(flags.repo ?? process.env.GITHUB_REPOSITORY);
      const log = lineLogger(io.err);
      const outcome = await promote({
        releases: connectReleases(repository, process.env, log, { write: true }),
        version,
        channel: flags.channel,
        ...(flags.model ? { model: flags.model } : {}),
        log,
        ...(process.env.GITHUB_ACTOR ? { by: process.env.GITHUB_ACTOR } : {}),
      });
      io.out(
        flags.json
          ? JSON.stringify(outcome, null, 2)
          : `${outcome.name}: channel ${outcome.channel} → ${outcome.version}${outcome.previous && outcome.previous !== outcome.version ? ` (was ${outcome.previous})` : outcome.previous === outcome.version ? ' (unchanged)' : ''}`,
      );
    });
}
