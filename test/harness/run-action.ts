/**
 * Runs an action the way a GitHub runner does: from a folder laid out like the repository (`actions/<name>/` and
 * `dist/`) with no node_modules anywhere, `INPUT_*` variables from the given inputs and action.yml's defaults,
 * the runner's file commands (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`), an event payload, a tool cache, and
 * `node <runs.main>` as a child process. Returns the exit code, the logs, the parsed outputs and the summary.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { parse } from 'yaml';
import { inputEnvName } from '../../src/action-kit/inputs.ts';
import { type HarnessContext, prepareHarness, repoRoot } from './prepare.ts';

/** The token the harness passes for `${{ github.token }}` defaults. */
export const FAKE_TOKEN = 'ghs_slmopsHarnessFakeToken000000000000';

export interface RunActionOptions {
  /** The folder under `actions/`. */
  readonly action: string;
  readonly inputs?: Record<string, string>;
  /** Extra environment; `undefined` removes a variable the harness would set. */
  readonly env?: Record<string, string | undefined>;
  /** The event payload (`GITHUB_EVENT_PATH`); default a minimal push event. */
  readonly event?: object;
  readonly eventName?: string;
  /** Files to copy into the workspace: workspace-relative path → source path. */
  readonly files?: Record<string, string>;
  /** Tool cache for this run; default the one shared by the test run. */
  readonly toolCache?: string;
  readonly timeoutMs?: number;
}

export interface ActionRun {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outputs: Record<string, string>;
  readonly summary: string;
  /** The `::error::` messages, in order. */
  readonly errors: string[];
  readonly workspace: string;
  readonly runnerTemp: string;
  /** The environment the action ran with. */
  readonly env: Record<string, string>;
}

interface ActionYml {
  inputs?: Record<string, { default?: unknown; required?: boolean }>;
  outputs?: Record<string, unknown>;
  runs: { using: string; main: string };
}

export async function readActionYml(action: string, root = repoRoot): Promise<ActionYml> {
  return parse(await readFile(path.join(root, 'actions', action, 'action.yml'), 'utf8')) as ActionYml;
}

/** The value the runner gives an input default: literals as they are, `${{ github.token }}` a fake token. */
export function evaluateDefault(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = String(value);
  if (/^\$\{\{\s*github\.token\s*\}\}$/.test(text)) return FAKE_TOKEN;
  if (text.includes('${{')) return undefined;
  return text;
}

/** The step outputs in a `GITHUB_OUTPUT` file: heredoc blocks (`name<<delimiter`) and `name=value` lines. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? '');
      if (i >= lines.length) throw new Error(`GITHUB_OUTPUT: no closing ${delimiter} for ${name}`);
      outputs[name] = value.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) outputs[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return outputs;
}

let localContext: Promise<HarnessContext> | undefined;

/** The context from test/global-setup.ts, or (when the global setup is not configured) one made by this worker. */
export function harnessContext(): Promise<HarnessContext> {
  const provided = inject('slmopsHarness') as HarnessContext | undefined;
  if (provided) return Promise.resolve(provided);
  // Without the global setup, each worker builds its own (and its temporary folder outlives the run).
  localContext ??= prepareHarness();
  return localContext;
}

/** Variables a child process needs from this one; everything else (NODE_PATH, NODE_OPTIONS, …) is left out. */
const PASSED_THROUGH = [
  'PATH',
  'SystemRoot',
  'TEMP',
  'TMP',
  'TMPDIR',
  'LANG',
  'SLMOPS_THREADS',
  'SLMOPS_REQUIRE_QEMU',
];

export async function runAction(options: RunActionOptions): Promise<ActionRun> {
  const context = await harnessContext();
  // Under the run's temporary root, which the global setup removes at the end (tests read reports until then).
  const runs = path.join(context.tempRoot, 'runs');
  await mkdir(runs, { recursive: true });
  const root = await mkdtemp(path.join(runs, `${options.action}-`));
  const actionDir = path.join(root, 'repo', 'actions', options.action);
  await cp(path.join(repoRoot, 'actions', options.action), actionDir, { recursive: true });
  await cp(context.distDir, path.join(root, 'repo', 'dist'), { recursive: true });

  const yml = await readActionYml(options.action);
  if (yml.runs.using !== 'node24') {
    throw new Error(`actions/${options.action}: runs.using is ${yml.runs.using}`);
  }
  const main = path.resolve(actionDir, yml.runs.main);

  const workspace = path.join(root, 'workspace');
  const runnerTemp = path.join(root, 'runner-temp');
  const home = path.join(root, 'home');
  const files = path.join(root, 'runner-files');
  await Promise.all([workspace, runnerTemp, home, files].map((d) => mkdir(d, { recursive: true })));
  for (const [dest, source] of Object.entries(options.files ?? {})) {
    await mkdir(path.dirname(path.join(workspace, dest)), { recursive: true });
    await cp(source, path.join(workspace, dest), { recursive: true });
  }
  const outputFile = path.join(files, 'github_output');
  const summaryFile = path.join(files, 'step_summary');
  const eventFile = path.join(files, 'event.json');
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  const event = options.event ?? {
    ref: 'refs/heads/main',
    after: '0123456789abcdef0123456789abcdef01234567',
    repository: { full_name: 'octo-org/edge-models', default_branch: 'main' },
  };
  await writeFile(eventFile, JSON.stringify(event));

  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    HOME: home,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_EVENT_PATH: eventFile,
    GITHUB_EVENT_NAME: options.eventName ?? 'push',
    GITHUB_REPOSITORY: 'octo-org/edge-models',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_ACTION_PATH: actionDir,
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: options.toolCache ?? context.toolCache,
    RUNNER_OS: { linux: 'Linux', darwin: 'macOS', win32: 'Windows' }[process.platform as string] ?? 'Linux',
    RUNNER_ARCH: process.arch.toUpperCase(),
    SLMOPS_RUNTIME_TARBALLS: context.tarballsDir,
  });
  for (const [name, spec] of Object.entries(yml.inputs ?? {})) {
    const value = evaluateDefault(spec.default);
    if (value !== undefined) env[inputEnvName(name)] = value;
  }
  for (const [name, value] of Object.entries(options.inputs ?? {})) env[inputEnvName(name)] = value;
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }

  const { exitCode, stdout, stderr } = await spawnNode(main, workspace, env, options.timeoutMs ?? 120_000);
  const outputs = parseOutputFile(await readFile(outputFile, 'utf8'));
  const summary = await readFile(summaryFile, 'utf8');
  const errors = stdout
    .split(/\r?\n/)
    .filter((l) => l.startsWith('::error'))
    .map((l) => l.replace(/^::error[^:]*::/, ''));
  return { exitCode, stdout, stderr, outputs, summary, errors, workspace, runnerTemp, env };
}

function spawnNode(
  main: string,
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, stdout, stderr });
    });
  });
}
