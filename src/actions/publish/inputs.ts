import {
  coreInputs,
  getBooleanInput,
  getListInput,
  getOptionalInput,
  getRequiredInput,
  getSecretInput,
  type InputSource,
} from '../../action-kit/inputs.ts';
import { ConfigurationError } from '../../errors.ts';
import { CHANNEL_NAME } from '../../publish/channels.ts';
import { type BumpLevel, parseVersionRequest } from '../../publish/semver.ts';

/** The inputs of actions/publish/action.yml: one definition per name. */
export const Inputs = {
  ModelDir: 'model-dir',
  Name: 'name',
  Include: 'include',
  Results: 'results',
  Version: 'version',
  Channel: 'channel',
  Draft: 'draft',
  GithubToken: 'github-token',
} as const;

/** The outputs of actions/publish/action.yml. */
export const Outputs = {
  ReleaseId: 'release-id',
  ReleaseUrl: 'release-url',
  Version: 'version',
  Tag: 'tag',
  Result: 'result',
  Assets: 'assets',
  Subjects: 'subjects',
} as const;

export interface PublishInputs {
  /** The folder holding the models to bundle (compress output). */
  readonly modelDir: string;
  /** Model name; undefined = from the compress reports, else the folder's name. */
  readonly name?: string | undefined;
  /** Extra files (tokenizer, model card): globs relative to the model folder; undefined = none. */
  readonly include?: string[] | undefined;
  /** Bench results, verdict and compress reports (files, folders, globs); undefined = none. */
  readonly results?: string[] | undefined;
  /** Semantic version without a leading `v`; undefined = from the pushed tag, or a bump. */
  readonly version: string | undefined;
  /** Bump of the last release (`patch`, `minor`, `major`); undefined = none. */
  readonly bump?: BumpLevel | undefined;
  /** Release channel (`stable`, `canary`, …); undefined = none. */
  readonly channel: string | undefined;
  readonly draft: boolean;
  readonly githubToken: string;
}

export function parseInputs(source: InputSource = coreInputs): PublishInputs {
  const rawVersion = getOptionalInput(Inputs.Version, source);
  const request =
    rawVersion === undefined ? undefined : parseVersionRequest(rawVersion, `input '${Inputs.Version}'`);
  const channel = getOptionalInput(Inputs.Channel, source);
  if (channel !== undefined && !CHANNEL_NAME.test(channel)) {
    throw new ConfigurationError(`'${channel}' is not valid`, {
      subject: `input '${Inputs.Channel}'`,
      fix: 'Use lowercase letters, digits, ".", "_" and "-", e.g. stable or canary',
    });
  }
  const githubToken = getSecretInput(Inputs.GithubToken, source);
  if (githubToken === undefined) {
    throw new ConfigurationError('is empty; publishing creates a release', {
      subject: `input '${Inputs.GithubToken}'`,
      fix: `Pass a token with contents: write (the default is \${{ github.token }})`,
    });
  }
  const draft = getBooleanInput(Inputs.Draft, false, source);
  if (draft && channel !== undefined) {
    throw new ConfigurationError('a channel can only point at a published release, and draft is true', {
      subject: `input '${Inputs.Channel}'`,
      fix: 'Remove draft, or promote the version once it is published (slmops promote)',
    });
  }
  const include = getListInput(Inputs.Include, source);
  const results = getListInput(Inputs.Results, source);
  return {
    modelDir: getRequiredInput(Inputs.ModelDir, source),
    name: getOptionalInput(Inputs.Name, source),
    include: include.length > 0 ? include : undefined,
    results: results.length > 0 ? results : undefined,
    version: request?.kind === 'exact' ? request.version : undefined,
    bump: request?.kind === 'bump' ? request.level : undefined,
    channel,
    draft,
    githubToken,
  };
}
