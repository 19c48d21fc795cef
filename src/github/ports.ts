/** What the gate and publish need from GitHub, as small interfaces: tests pass objects, production passes octokit. */

export interface IssueComment {
  id: number;
  body: string;
}

export interface CommentPort {
  /** Every comment of the issue or pull request, all pages. */
  listComments(issueNumber: number): Promise<IssueComment[]>;
  createComment(issueNumber: number, body: string): Promise<IssueComment>;
  updateComment(commentId: number, body: string): Promise<IssueComment>;
}

export interface Annotation {
  path: string;
  startLine: number;
  endLine: number;
  level: 'notice' | 'warning' | 'failure';
  title: string;
  message: string;
}

export interface CheckRunInput {
  name: string;
  headSha: string;
  conclusion: 'success' | 'failure' | 'neutral';
  title: string;
  summary: string;
  annotations: Annotation[];
  detailsUrl?: string;
}

export interface CheckPort {
  /** Creates a completed check run; returns its id. */
  createCheckRun(input: CheckRunInput): Promise<number>;
}

export interface PullRequestPort {
  labels(issueNumber: number): Promise<string[]>;
}

/** A write GitHub refused because the token may not write (fork pull requests get read-only tokens). */
export class WriteRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteRefusedError';
  }
}
