import {
  coreInputs,
  getEnumInput,
  getListInput,
  getOptionalInput,
  getSecretInput,
  type InputSource,
} from '../../action-kit/inputs.ts';
import { ConfigurationError } from '../../errors.ts';

/** The inputs of actions/gate/action.yml: one definition per name. */
export const Inputs = {
  Results: 'results',
  Budgets: 'budgets',
  GithubToken: 'github-token',
  Mode: 'mode',
  Comment: 'comment',
  FailOn: 'fail-on',
  AcceptLabel: 'accept-label',
} as const;

/** The outputs of actions/gate/action.yml. */
export const Outputs = {
  Verdict: 'verdict',
  CommentId: 'comment-id',
  CommentOperation: 'comment-operation',
} as const;

export const MODES = ['gate', 'comment'] as const;
export const COMMENT_POLICIES = ['always', 'on-change', 'on-failure', 'never'] as const;
export const FAIL_ON = ['fail', 'inconclusive'] as const;
export const DEFAULT_BUDGETS = 'budgets.yml';
export const DEFAULT_ACCEPT_LABEL = 'slmops:accept-regression';

export interface GateInputs {
  /** bench-result.json files, folders or globs; never empty. */
  readonly results: readonly string[];
  readonly budgets: string;
  /** Undefined only when no comment is posted. */
  readonly githubToken: string | undefined;
  /** `gate` judges and fails the step; `comment` only posts (e.g. from a `workflow_run` for fork PRs). */
  readonly mode: (typeof MODES)[number];
  readonly comment: (typeof COMMENT_POLICIES)[number];
  /** `fail`: only a clear regression fails; `inconclusive`: an unclear result fails too. */
  readonly failOn: (typeof FAIL_ON)[number];
  /** A pull-request label that accepts a regression; undefined = none. */
  readonly acceptLabel: string | undefined;
}

export function parseInputs(source: InputSource = coreInputs): GateInputs {
  const results = getListInput(Inputs.Results, source);
  if (results.length === 0) {
    throw new ConfigurationError('is required and was not given', {
      subject: `input '${Inputs.Results}'`,
      fix: 'Give the bench-result.json files or their folder, one per line',
    });
  }
  const inputs: GateInputs = {
    results,
    budgets: getOptionalInput(Inputs.Budgets, source) ?? DEFAULT_BUDGETS,
    githubToken: getSecretInput(Inputs.GithubToken, source),
    mode: getEnumInput(Inputs.Mode, MODES, 'gate', source),
    comment: getEnumInput(Inputs.Comment, COMMENT_POLICIES, 'always', source),
    failOn: getEnumInput(Inputs.FailOn, FAIL_ON, 'fail', source),
    acceptLabel: getOptionalInput(Inputs.AcceptLabel, source),
  };
  if (inputs.mode === 'comment' && inputs.comment === 'never') {
    throw new ConfigurationError(`is 'never', so mode 'comment' would do nothing`, {
      subject: `input '${Inputs.Comment}'`,
      fix: `Use mode 'gate', or a comment policy other than 'never'`,
    });
  }
  if (inputs.comment !== 'never' && inputs.githubToken === undefined) {
    throw new ConfigurationError(`is empty, and comment is '${inputs.comment}'`, {
      subject: `input '${Inputs.GithubToken}'`,
      fix: `Pass a token with pull-requests: write (the default is \${{ github.token }}), or set comment: never`,
    });
  }
  return inputs;
}
