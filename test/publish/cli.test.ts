/**
 * The commands as a user runs them (pack, verify, pull --bundle, publish, promote, pull): output, --json, and
 * exit codes (0 success, 2 a refused or damaged bundle, naming the file).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { registerPack } from '../../src/cli/pack-command.ts';
import { registerPromote } from '../../src/cli/promote-command.ts';
import { registerPublish } from '../../src/cli/publish-command.ts';
import { registerPull } from '../../src/cli/pull-command.ts';
import { registerVerify } from '../../src/cli/verify-command.ts';
import { exitCodeOf } from '../../src/errors.ts';
import { seedRepo } from '../github-server/fixtures.ts';
import { TOKENS } from '../github-server/state.ts';
import { useGitHubServer } from '../github-server/use-server.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { COMMIT, OWNER, REPO, tagEnv, variantsFolder } from './helpers.ts';

const github = useGitHubServer();
const tmp = tempDir('slmops-publish-cli-');
afterAll(() => tmp.remove());
let n = 0;
const scratch = () => {
  const dir = join(tmp.path, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

const saved = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
});

/** Runs the commands of this issue the way src/cli/program.ts runs every command. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
  const program = new Command('slmops')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const register of [registerPack, registerVerify, registerPull, registerPublish, registerPromote])
    register(program, io);
  let code = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    code = error instanceof CommanderError ? 2 : exitCodeOf(error);
    if (!(error instanceof CommanderError)) err.push(`error: ${(error as Error).message}`);
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('slmops pack and verify', () => {
  it('packs a folder, prints the files and the bundle digest, and verify accepts the bundle', async () => {
    const root = scratch();
    Object.assign(process.env, tagEnv('v1.0.0'));
    const bundle = join(root, 'bundle.tar.gz');
    const packed = await cli('pack', variantsFolder(root), '--out', bundle, '--json');
    expect(packed.code, packed.err).toBe(0);
    const report = JSON.parse(packed.out);
    expect(report.manifest).toMatchObject({ name: 'digits', version: '1.0.0' });
    expect(report.archive.path).toBe(bundle);

    const verified = await cli('verify', bundle);
    expect(verified).toMatchObject({
      code: 0,
      out: `digits 1.0.0: 4 files verified (identity ${report.manifest.identity})`,
    });
  });

  it('says where a file included from outside the folder came from, as it lands at the bundle root', async () => {
    const root = scratch();
    Object.assign(process.env, tagEnv('v1.0.0'));
    writeFileSync(join(root, 'LICENSE'), 'MIT\n');
    const folder = variantsFolder(root);
    writeFileSync(join(folder, 'tokenizer.json'), '{}\n');
    const packed = await cli(
      'pack',
      folder,
      '--out',
      join(root, 'b.tar.gz'),
      '--include',
      '../LICENSE',
      'tokenizer.json',
    );
    expect(packed.code, packed.err).toBe(0);
    const line = (path: string) => packed.out.split('\n').find((l) => l.includes(`  ${path} (`)) ?? '';
    expect(line('LICENSE')).toMatch(/ LICENSE \(4 bytes, from /);
    expect(line('LICENSE').endsWith(`, from ${join(root, 'LICENSE')})`)).toBe(true);
    expect(line('tokenizer.json').endsWith(' tokenizer.json (3 bytes)')).toBe(true);
  });

  it('installs a bundle with pull --bundle; verify then names a tampered file and exits 2', async () => {
    const root = scratch();
    Object.assign(process.env, tagEnv('v1.0.0'));
    const bundle = join(root, 'b.tar.gz');
    await cli('pack', variantsFolder(root), '--out', bundle);
    const out = join(root, 'device');
    const pulled = await cli('pull', '--bundle', bundle, '--out', out);
    expect(pulled.code, pulled.err).toBe(0);
    expect(pulled.out).toMatch(/^digits 1\.0\.0: 4 files, \d+ bytes, verified, in /);

    const file = join(out, 'digits@int8', 'model.onnx');
    const bytes = readFileSync(file);
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    writeFileSync(file, bytes);
    const verified = await cli('verify', out);
    expect(verified.code).toBe(2);
    expect(verified.err).toMatch(
      /^digits@int8\/model\.onnx: sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}\n/,
    );
    expect(verified.err).toContain(`error: ${out}: does not match its manifest (1 file)`);
  });

  it('refuses pack with a bump instead of a version', async () => {
    const root = scratch();
    const result = await cli(
      'pack',
      variantsFolder(root),
      '--out',
      join(root, 'x.tar.gz'),
      '--release',
      'minor',
    );
    expect(result).toMatchObject({ code: 2 });
    expect(result.err).toContain('--release: pack takes an exact version, not a bump');
  });
});

describe('slmops publish, promote and pull', () => {
  it('publishes with the token from GITHUB_TOKEN, promotes to stable, and pulls stable', async () => {
    const root = scratch();
    seedRepo(github.server, { owner: OWNER, repo: REPO, headSha: COMMIT });
    Object.assign(process.env, tagEnv('v1.0.0'), {
      GITHUB_API_URL: github.server.url,
      GITHUB_TOKEN: TOKENS.write,
      SLMOPS_GITHUB_RETRY_BASE_MS: '1',
    });
    const published = await cli(
      'publish',
      variantsFolder(root),
      '--repo',
      `${OWNER}/${REPO}`,
      '--channel',
      'canary',
      '--quiet',
      '--json',
    );
    expect(published.code, published.err).toBe(0);
    expect(JSON.parse(published.out)).toMatchObject({ result: 'published', version: '1.0.0', tag: 'v1.0.0' });

    const promoted = await cli('promote', '1.0.0', '--channel', 'stable', '--repo', `${OWNER}/${REPO}`);
    expect(promoted).toMatchObject({ code: 0, out: 'digits: channel stable → 1.0.0' });

    const out = join(root, 'device');
    const pulled = await cli(
      'pull',
      '--repo',
      `${OWNER}/${REPO}`,
      '--channel',
      'stable',
      '--out',
      out,
      '--quiet',
    );
    expect(pulled.code, pulled.err).toBe(0);
    expect((await cli('verify', out)).code).toBe(0);
  });

  it('refuses to publish without a token, saying where to put one', async () => {
    const root = scratch();
    Object.assign(process.env, tagEnv('v1.0.0'), { GITHUB_TOKEN: '', GH_TOKEN: '' });
    const result = await cli('publish', variantsFolder(root), '--repo', `${OWNER}/${REPO}`);
    expect(result.code).toBe(2);
    expect(result.err).toContain('GITHUB_TOKEN: no token to write releases with');
  });
});
