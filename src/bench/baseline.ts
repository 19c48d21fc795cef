/**
 * The baseline of an A/B benchmark: a path, or `git:<ref>:<path>` read from the repository's history (external
 * data files included) into a temporary folder.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { ConfigurationError } from '../errors.ts';
import { resolveInside } from '../onnx/external-data.ts';
import { parseModelBytes } from '../onnx/read.ts';
import { forEachTensor } from '../onnx/walk.ts';

export interface GitRef {
  ref: string;
  path: string;
}

/** Parses `git:<ref>:<path>`; undefined for a plain path. */
export function parseGitBaseline(spec: string): GitRef | undefined {
  if (!spec.startsWith('git:')) return undefined;
  const rest = spec.slice(4);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1) {
    throw new ConfigurationError(`baseline "${spec}" is not of the form git:<ref>:<path>`, {
      subject: 'baseline',
      fix: 'Write it like git:origin/main:models/tiny-lm/model.onnx',
    });
  }
  return { ref: rest.slice(0, colon), path: rest.slice(colon + 1).replace(/^\.\//, '') };
}

function gitBlobToFile(cwd: string, ref: string, path: string, target: string): void {
  const fd = openSync(target, 'w');
  try {
    execFileSync('git', ['cat-file', 'blob', `${ref}:${path}`], {
      cwd,
      stdio: ['ignore', fd, 'pipe'],
      maxBuffer: 1 << 20,
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new ConfigurationError(
      `cannot read ${path} at ${ref} from git (${stderr.split('\n')[0] || 'git failed'})`,
      {
        subject: 'baseline',
        fix: 'Check the ref and path, and fetch enough history (actions/checkout with fetch-depth: 0, or git fetch the base ref)',
      },
    );
  } finally {
    closeSync(fd);
  }
}

/** Materializes a git baseline (model and its external data) in a temporary folder; returns the model path. */
export function checkoutGitBaseline(ref: GitRef, cwd = process.cwd()): string {
  const dir = mkdtempSync(join(tmpdir(), 'slmops-baseline-'));
  try {
    return materialize(ref, cwd, dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function materialize(ref: GitRef, cwd: string, dir: string): string {
  const name = posix.basename(ref.path);
  const model = join(dir, name);
  gitBlobToFile(cwd, ref.ref, ref.path, model);
  const subject = `git:${ref.ref}:${ref.path}`;
  const proto = parseModelBytes(readFileSync(model), subject); // an LFS pointer is refused here, with the fix
  const locations = new Set<string>();
  forEachTensor(proto, ({ tensor }) => {
    const location = tensor.externalData.find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  });
  for (const location of locations) {
    const target = resolveInside(dir, location, subject, 'external data');
    mkdirSync(dirname(target), { recursive: true });
    gitBlobToFile(cwd, ref.ref, posix.join(posix.dirname(ref.path), location), target);
    const head = readFileSync(target).subarray(0, 64).toString('latin1');
    if (head.startsWith('version https://git-lfs')) {
      throw new ConfigurationError(`external data "${location}" at ${ref.ref} is a Git LFS pointer`, {
        subject,
        fix: 'Check out with Git LFS (actions/checkout with lfs: true, or git lfs fetch the base ref)',
      });
    }
  }
  return model;
}

/** A baseline on disk: its model path, and `release` to remove what was materialized for it (a git baseline). */
export interface ResolvedBaseline {
  path: string;
  release(): void;
}

/** A baseline spec → a model path on disk. */
export function resolveBaseline(spec: string, cwd = process.cwd()): ResolvedBaseline {
  const git = parseGitBaseline(spec);
  if (!git) return { path: spec, release: () => {} };
  const path = checkoutGitBaseline(git, cwd);
  return { path, release: () => rmSync(dirname(path), { recursive: true, force: true }) };
}
