import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatPath,
  InvalidDocumentError,
  loadBudgets,
  loadConfig,
  loadDocument,
  loadProfile,
  loadRecipeFile,
  parseDocumentText,
  validateDocument,
} from '../../src/config/load.ts';
import { ConfigurationError, ExitCode, exitCodeOf } from '../../src/errors.ts';

const examples = fileURLToPath(new URL('../../schemas/examples/', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slmops-load-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<ConfigurationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected the load to fail');
}

const MALFORMED_BUDGETS = `schema: slmops.budgets/v1
defaults:
  latency:
    ratioTolerance: -0.1
rules:
  - profile: rpi5-8gb
    latncy:
      p50Ms: 100
  - profile: Raspberry Pi
    sizeBytes:
      max: 400MB
  - profile: n100
    latency:
      p90Ms: fast
onInconclusive: wran
`;

describe('loadBudgets', () => {
  it('lists every problem with its path in one error that names the file and the fix', async () => {
    const path = write('budgets.yml', MALFORMED_BUDGETS);
    const error = await failure(loadBudgets(path));
    expect(error).toBeInstanceOf(InvalidDocumentError);
    expect(error.subject).toBe(path);
    expect((error as InvalidDocumentError).problems).toEqual([
      'defaults.latency.ratioTolerance: must be >= 0 (got -0.1)',
      'rules[0].latncy: unknown property; did you mean "latency"?',
      "rules[1].profile: must be \"*\" or a profile id (lowercase letters, digits, '-', '.' and '_') (got \"Raspberry Pi\")",
      'rules[1].sizeBytes.max: must be an integer (got "400MB")',
      'rules[2].latency.p90Ms: must be a number (got "fast")',
      'onInconclusive: must be one of "warn", "fail", "rerun" (got "wran"); did you mean "warn"?',
    ]);
    expect(error.message).toMatch(
      new RegExp(
        `^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a valid budgets file \\(6 problems\\):\n`,
      ),
    );
    expect(error.message).toContain('\n  - rules[2].latency.p90Ms: must be a number (got "fast")\n');
    expect(error.message).toMatch(
      /\nFix the fields listed above; the format is schemas\/budgets\.schema\.json/,
    );
    expect(exitCodeOf(error)).toBe(ExitCode.UsageOrInput);
  });

  it('suggests the closest valid name for an unknown property, or lists the valid ones when none is close', async () => {
    const path = write(
      'typo.yml',
      'schema: slmops.budgets/v1\nrules:\n  - profile: "*"\n    tokensPerSecond: { min: 5 }\n    colour: red\n',
    );
    const error = (await failure(loadBudgets(path))) as InvalidDocumentError;
    expect(error.problems[0]).toBe(
      'rules[0].tokensPerSecond: unknown property; did you mean "tokensPerSec"?',
    );
    expect(error.problems[1]).toMatch(
      /^rules\[0\]\.colour: unknown property; valid properties: profile, variant, latency,/,
    );
  });

  it('gives the line and column of a YAML syntax error', async () => {
    const path = write(
      'broken.yml',
      'schema: slmops.budgets/v1\nrules:\n  - profile: "*"\n    latency: {p50Ms: 10\n',
    );
    const error = await failure(loadBudgets(path));
    expect(error.message).toMatch(/: YAML syntax error at line \d+, column \d+: /);
    expect(error.message).toContain(path);
  });

  it('reports a duplicated YAML key with its line', async () => {
    const path = write('dupe.yml', 'schema: slmops.budgets/v1\nrules: []\nrules: []\n');
    const error = await failure(loadBudgets(path));
    expect(error.message).toContain('YAML syntax error at line 3, column 1: Map keys must be unique');
  });

  it('gives the line and column of a JSON syntax error', async () => {
    const path = write('broken.json', '{\n  "schema": "slmops.budgets/v1",\n  "rules": [],\n}\n');
    const error = await failure(loadBudgets(path));
    expect(error.message).toMatch(/JSON syntax error at line 4, column 1/);
  });

  it('says which schema version it expected when the file names another', async () => {
    const path = write('v2.yml', 'schema: slmops.budgets/v2\nrules: []\n');
    const error = await failure(loadBudgets(path));
    expect(error.message).toContain(
      'declares schema "slmops.budgets/v2", but this version of slmops reads "slmops.budgets/v1"',
    );
  });

  it('says which schema it expected when the field is missing', async () => {
    const path = write('noschema.yml', 'rules:\n  - profile: "*"\n');
    const error = await failure(loadBudgets(path));
    expect(error.message).toContain('the "schema" field is missing; expected "slmops.budgets/v1"');
    expect(error.fix).toBe('Add `schema: slmops.budgets/v1` at the top of the file');
  });

  it('names the kind of file that was passed instead', async () => {
    const path = write('recipe-not-budgets.yml', 'schema: slmops.recipe/v1\npasses: [{pass: int8}]\n');
    const error = await failure(loadBudgets(path));
    expect(error.message).toContain(
      'is a recipe file (schema "slmops.recipe/v1"), expected a budgets file ("slmops.budgets/v1")',
    );
  });

  it('names the missing file with its absolute path', async () => {
    const error = await failure(loadBudgets(join(dir, 'nowhere', 'budgets.yml')));
    expect(error.message).toContain(`file not found (looked for ${resolve(dir, 'nowhere', 'budgets.yml')})`);
    expect(error.subject).toBe(join(dir, 'nowhere', 'budgets.yml'));
  });

  it('rejects an empty file and a directory', async () => {
    expect((await failure(loadBudgets(write('empty.yml', '# nothing\n')))).message).toContain(
      'the file is empty',
    );
    mkdirSync(join(dir, 'folder.yml'), { recursive: true });
    expect((await failure(loadBudgets(join(dir, 'folder.yml')))).message).toContain('is a directory');
  });

  it('reads the YAML and JSON budgets examples into the same object', async () => {
    const yaml = await loadBudgets(`${examples}budgets.example.yml`);
    const { $schema, ...json } = (await loadBudgets(`${examples}budgets.example.json`)) as unknown as Record<
      string,
      unknown
    >;
    expect($schema).toBe('https://slmops.dev/schemas/budgets.schema.json');
    expect(yaml).toEqual(json);
    expect(yaml.rules[0]?.latency?.p50Ms).toBe(120);
  });

  it('parses a file without a known extension by its content', async () => {
    const path = write('budgets.conf', '{"schema": "slmops.budgets/v1", "rules": [{"profile": "*"}]}');
    expect((await loadBudgets(path)).rules).toEqual([{ profile: '*' }]);
  });
});

describe('the other loaders', () => {
  it('load the config, recipe and profile examples', async () => {
    expect((await loadConfig(`${examples}config.example.yml`)).profiles).toEqual([
      'rpi5-8gb',
      'n100-mini-pc',
    ]);
    expect((await loadRecipeFile(`${examples}recipe.example.yml`)).passes.map((p) => p.pass)).toEqual([
      'prune',
      'int8',
    ]);
    expect((await loadProfile(`${examples}profile.example.json`)).id).toBe('rpi5-8gb');
  });

  it('load result documents by kind', async () => {
    const bench = await loadDocument('bench', `${examples}bench.example.json`);
    expect(bench.latencyMs.p50).toBe(4.12);
    const text = readFileSync(`${examples}verdict.example.json`, 'utf8');
    expect(validateDocument('verdict', JSON.parse(text), 'verdict artifact').overall).toBe('fail');
  });

  it('reject a result whose top level is not an object', () => {
    expect(() => validateDocument('bench', [1, 2], 'bench artifact')).toThrow('(root): must be an object');
  });
});

describe('formatPath', () => {
  it('writes indexes in brackets and quotes names that are not identifiers', () => {
    const root = { rules: [{ latency: {} }], calibration: { 'by threads': { 4: 1 } } };
    expect(formatPath(['rules', '0', 'latency', 'p90Ms'], root)).toBe('rules[0].latency.p90Ms');
    expect(formatPath(['calibration', 'by threads', '4'], root)).toBe('calibration["by threads"]["4"]');
    expect(formatPath([], root)).toBe('(root)');
  });
});

describe('parseDocumentText on documents that would be read wrongly', () => {
  it('names a key written twice in a JSON object, which JSON would silently resolve to the last', () => {
    const text = '{"rules": [{"profile": "*", "sizeBytes": {"max": 100000, "max": 10000000}}]}';
    expect(() => parseDocumentText(text, 'budgets.json')).toThrowError(
      /budgets\.json: a key appears twice in one object at line 1/,
    );
    expect(parseDocumentText('{"a": 1, "b": {"a": 2}}', 'ok.json')).toEqual({ a: 1, b: { a: 2 } });
  });

  it('refuses a YAML alias bomb with a configuration error', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x]',
      ...'bcdefgh'
        .split('')
        .map((k, i) => `${k}: &${k} [${new Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`),
    ].join('\n');
    expect(() => parseDocumentText(bomb, 'budgets.yml')).toThrowError(ConfigurationError);
  });
});
