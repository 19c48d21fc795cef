/** `slmops promote <version> --channel <name>`: points a rollout channel at a published version (in the index). */
import type { Logger } from '../action-kit/logger.ts';
import { ConfigurationError } from '../errors.ts';
import { type ReleasePort, WriteRefusedError } from '../github/ports.ts';
import { checkChannel, moveChannel, pickModel, updateIndex } from './channels.ts';
import { formatSemver, parseSemver } from './semver.ts';

export interface PromoteOptions {
  readonly releases: ReleasePort;
  readonly version: string;
  readonly channel: string;
  readonly model?: string;
  readonly log: Logger;
  /** Who moved the channel (`GITHUB_ACTOR`), recorded in the channel history. */
  readonly by?: string;
}

export interface PromoteOutcome {
  readonly name: string;
  readonly version: string;
  readonly channel: string;
  /** The version the channel pointed at before (null: none). */
  readonly previous: string | null;
}

export async function promote(options: PromoteOptions): Promise<PromoteOutcome> {
  const channel = checkChannel(options.channel, '--channel');
  const parsed = parseSemver(options.version.replace(/^v/, ''));
  if (!parsed) {
    throw new ConfigurationError(`'${options.version}' is not a semantic version`, {
      subject: 'slmops promote',
      fix: 'Give a published version such as 1.2.0',
    });
  }
  const version = formatSemver(parsed);
  let outcome: PromoteOutcome | undefined;
  try {
    await updateIndex(
      options.releases,
      (doc) => {
        const [name] = pickModel(doc, options.model, 'slmops promote');
        const at = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        const previous = moveChannel(doc, name, channel, version, at, options.by);
        outcome = { name, version, channel, previous };
      },
      options.log,
    );
  } catch (error) {
    if (error instanceof WriteRefusedError) {
      throw new ConfigurationError(error.message, {
        subject: 'token',
        fix: 'Promoting writes the release index: use a token with contents: write',
      });
    }
    throw error;
  }
  return outcome as PromoteOutcome;
}
