import {
  coreInputs,
  getBooleanInput,
  getOptionalInput,
  getRequiredInput,
  getSecretInput,
  type InputSource,
} from '../../action-kit/inputs.ts';
import { ConfigurationError } from '../../errors.ts';

/** The inputs of actions/publish/action.yml: one definition per name. */
export const Inputs = {
  ModelDir: 'model-dir',
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
  Assets: 'assets',
  Subjects: 'subjects',
} as const;

const SEMVER = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$/;
const CHANNEL = /^[a-z0-9][a-z0-9._-]*$/;

export interface PublishInputs {
  /** The folder holding the models to bundle (compress output). */
  readonly modelDir: string;
  /** Semantic version without a leading `v`; undefined = from the pushed tag. */
  readonly version: string | undefined;
  /** Release channel (`stable`, `beta`, …); undefined = none. */
  readonly channel: string | undefined;
  readonly draft: boolean;
  readonly githubToken: string;
}

export function parseInputs(source: InputSource = coreInputs): PublishInputs {
  const rawVersion = getOptionalInput(Inputs.Version, source);
  let version: string | undefined;
  if (rawVersion !== undefined) {
    version = SEMVER.exec(rawVersion)?.[1];
    if (version === undefined) {
      throw new ConfigurationError(`'${rawVersion}' is not a semantic version`, {
        subject: `input '${Inputs.Version}'`,
        fix: 'Use MAJOR.MINOR.PATCH, e.g. 1.2.0 or v1.2.0-rc.1, or leave it empty to use the tag',
      });
    }
  }
  const channel = getOptionalInput(Inputs.Channel, source);
  if (channel !== undefined && !CHANNEL.test(channel)) {
    throw new ConfigurationError(`'${channel}' is not valid`, {
      subject: `input '${Inputs.Channel}'`,
      fix: 'Use lowercase letters, digits, ".", "_" and "-", e.g. stable or beta',
    });
  }
  const githubToken = getSecretInput(Inputs.GithubToken, source);
  if (githubToken === undefined) {
    throw new ConfigurationError('is empty; publishing creates a release', {
      subject: `input '${Inputs.GithubToken}'`,
      fix: `Pass a token with contents: write (the default is \${{ github.token }})`,
    });
  }
  return {
    modelDir: getRequiredInput(Inputs.ModelDir, source),
    version,
    channel,
    draft: getBooleanInput(Inputs.Draft, false, source),
    githubToken,
  };
}
