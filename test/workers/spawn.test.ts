import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/errors.ts';
import { ChildProcessError, runInChild } from '../../src/workers/spawn.ts';
import { repoRoot } from '../harness/prepare.ts';
import { harnessContext } from '../harness/run-action.ts';
import { tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
const saved = { ...process.env };
let cli = '';

beforeAll(async () => {
  cli = join((await harnessContext()).distDir, 'cli', 'index.js');
  process.env.SLMOPS_ORT_DIR = repoRoot;
}, 300_000);

afterAll(() => {
  process.env = saved;
  tmp.remove();
});

function script(name: string, body: string): string {
  const path = join(tmp.path, name);
  writeFileSync(path, body);
  return path;
}

describe('runInChild', () => {
  it("resolves with the child's last JSON line", async () => {
    const entry = script('ok.mjs', 'console.log("progress"); console.log(JSON.stringify({ value: 42 }));');
    await expect(runInChild('bench', {}, entry)).resolves.toEqual({ value: 42 });
  });

  it("rejects with the child's own message, as a ConfigurationError when the user can fix it", async () => {
    const userFixable = script(
      'config.mjs',
      'console.log(JSON.stringify({ childFailure: { message: "eval.jsonl: line 3 is bad. Fix it", configuration: true } })); process.exitCode = 1;',
    );
    const error = await runInChild('fidelity', {}, userFixable).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toBe('eval.jsonl: line 3 is bad. Fix it');

    const internal = script(
      'internal.mjs',
      'console.log(JSON.stringify({ childFailure: { message: "Unexpected input data type", configuration: false } })); process.exitCode = 1;',
    );
    const other = await runInChild('bench', {}, internal).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ChildProcessError);
    expect((other as Error).message).toBe('the bench child process failed: Unexpected input data type');
  });

  it('names what a crashed child said, not its stack frames or the Node banner', async () => {
    const entry = script(
      'crash.mjs',
      'function deep() { throw new TypeError("reading ids of undefined"); } deep();',
    );
    const error = (await runInChild('bench', {}, entry).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ChildProcessError);
    expect(error.message).toMatch(/exited with code 1: .*TypeError: reading ids of undefined/);
    expect(error.message).not.toMatch(/ at |Node\.js v/);
  });

  it("carries a real child's configuration error through the built CLI bundle", async () => {
    const missing = join(tmp.path, 'missing.jsonl');
    const spec = { reference: 'a.onnx', candidate: 'b.onnx', evalData: missing, samples: 1, threads: 1 };
    const error = (await runInChild('fidelity', spec, cli).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(/^a\.onnx: /);
  });
});
