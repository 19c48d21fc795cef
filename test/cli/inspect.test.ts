import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('slmops inspect', () => {
  it('prints the report as JSON with --json', async () => {
    const result = await cli('inspect', fixtureModel('digits-cnn'), '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    expect(report.parameters).toBe(38_282);
    expect(report.sha256).toBe('e54320f891bbf302e5e4d3909b59b3f1e804f8451f8a74e65ad8e767445dd451');
    expect(report.inputs).toEqual([{ name: 'input', type: 'float32', shape: ['batch', 1, 8, 8] }]);
  });

  it('loads and runs the model once with --run', async () => {
    const result = await cli('inspect', fixtureModel('digits-cnn'), '--run', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out).smoke.outputs).toEqual([
      { name: 'logits', type: 'float32', dims: [1, 10] },
    ]);
  });

  it('exits 2 with one line naming a truncated file, the problem and the fix, and no stack trace', async () => {
    const bytes = readFileSync(fixtureModel('digits-cnn'));
    const path = join(tmp.path, 'cut.onnx');
    writeFileSync(path, bytes.subarray(0, 5000));
    const result = await cli('inspect', path);
    expect(result.code).toBe(2);
    expect(result.err.split('\n')).toHaveLength(1);
    expect(result.err).toMatch(/^error: .*cut\.onnx: the file is truncated.*Re-export/);
    expect(result.err).not.toMatch(/\s+at /);
  });

  it('prints the stack trace of an input error only with --debug', async () => {
    const path = join(tmp.path, 'text.onnx');
    writeFileSync(path, '{}');
    const result = await cli('inspect', path, '--debug');
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/not an ONNX model/);
    expect(result.err).toMatch(/\s+at /);
  });

  it('exits 2 when external data is missing', async () => {
    const dir = join(tmp.path, 'lonely');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'model.onnx'),
      readFileSync(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx')),
    );
    const result = await cli('inspect', join(dir, 'model.onnx'));
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/external data file "model\.onnx\.data" .* is missing/);
  });

  it('exits 2 on an unknown command or option', async () => {
    expect((await cli('inspekt')).code).toBe(2);
    expect((await cli('inspect', fixtureModel('digits-cnn'), '--jsonn')).code).toBe(2);
  });
});
