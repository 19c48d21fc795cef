import { describe, expect, it } from 'vitest';
import { recordInputs } from '../../src/action-kit/inputs.ts';
import { parseInputs as parseBenchmark } from '../../src/actions/benchmark/inputs.ts';
import { parseInputs as parseCompress } from '../../src/actions/compress/inputs.ts';
import { parseInputs as parseGate } from '../../src/actions/gate/inputs.ts';
import { parseInputs as parseInspect } from '../../src/actions/inspect/inputs.ts';
import { parseInputs as parsePublish } from '../../src/actions/publish/inputs.ts';
import { ConfigurationError } from '../../src/errors.ts';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigurationError');
}

describe('inspect inputs', () => {
  it('default to running the model once with one thread and the runner temp folder', () => {
    expect(parseInspect(recordInputs({ model: 'm.onnx' }))).toEqual({
      model: 'm.onnx',
      run: true,
      threads: 1,
      outDir: undefined,
    });
  });

  it('take run, threads and out-dir', () => {
    expect(
      parseInspect(recordInputs({ model: 'm.onnx', run: 'false', threads: '4', 'out-dir': 'r' })),
    ).toEqual({
      model: 'm.onnx',
      run: false,
      threads: 4,
      outDir: 'r',
    });
  });

  it('refuse zero threads', () => {
    expect(errorOf(() => parseInspect(recordInputs({ model: 'm.onnx', threads: '0' })))).toContain(
      "input 'threads'",
    );
  });
});

describe('compress inputs', () => {
  it('read one recipe per line, ignoring comments', () => {
    const inputs = parseCompress(
      recordInputs({ model: 'm.onnx', recipes: 'int8\n# later: fp16\nint4:block=32' }),
    );
    expect(inputs).toEqual({
      model: 'm.onnx',
      recipes: ['int8', 'int4:block=32'],
      outDir: 'slmops/variants',
      evalData: undefined,
    });
  });

  it('accept recipe files beside spec strings', () => {
    const inputs = parseCompress(recordInputs({ model: 'm.onnx', recipes: 'int8\nrecipes/edge.yml' }));
    expect(inputs.recipes).toEqual(['int8', 'recipes/edge.yml']);
  });

  it('refuse a recipe spec with a typo, naming the input and the valid passes', () => {
    const message = errorOf(() => parseCompress(recordInputs({ model: 'm.onnx', recipes: 'int8\nint9' })));
    expect(message).toMatch(/^input 'recipes': recipe "int9": unknown pass "int9"/);
    expect(message).toContain('int8, int4, fp16, prune');
  });

  it('refuse two spellings of the same recipe', () => {
    expect(
      errorOf(() => parseCompress(recordInputs({ model: 'm.onnx', recipes: 'int4\nint4:block=32' }))),
    ).toBe(
      "input 'recipes': 'int4:block=32' and 'int4' are the same recipe (int4:block=32,sym,acc=0). Remove one of them",
    );
  });

  it('refuse an empty recipe list', () => {
    expect(errorOf(() => parseCompress(recordInputs({ model: 'm.onnx', recipes: '# none\n' })))).toBe(
      "input 'recipes': lists no recipe. Give one recipe per line, e.g. int8",
    );
  });
});

describe('benchmark inputs', () => {
  it('default to the full protocol, the profiles’ threads and this runner', () => {
    expect(parseBenchmark(recordInputs({ models: 'a.onnx\nb.onnx' }))).toEqual({
      models: ['a.onnx', 'b.onnx'],
      profiles: [],
      baselineModel: undefined,
      evalData: undefined,
      protocol: 'full',
      processes: undefined,
      iterations: undefined,
      threads: undefined,
      outDir: 'slmops/bench',
    });
  });

  it('take the quick protocol and a thread count', () => {
    const inputs = parseBenchmark(
      recordInputs({ models: 'a.onnx', protocol: 'quick', threads: '2', profiles: 'pi5' }),
    );
    expect([inputs.protocol, inputs.threads, inputs.profiles]).toEqual(['quick', 2, ['pi5']]);
  });

  it('take a number of processes and of iterations that override the protocol', () => {
    const inputs = parseBenchmark(recordInputs({ models: 'a.onnx', processes: '20', iterations: '100' }));
    expect([inputs.processes, inputs.iterations]).toEqual([20, 100]);
  });

  it.each([
    [{ models: '' }, "input 'models': is required and was not given"],
    [{ models: 'a.onnx', protocol: 'fast' }, "input 'protocol': 'fast' is not valid. Use one of quick, full"],
    [{ models: 'a.onnx', threads: 'all' }, "input 'threads': 'all' is not valid"],
    [{ models: 'a.onnx', processes: '0' }, "input 'processes'"],
    [{ models: 'a.onnx\na.onnx' }, "input 'models': lists 'a.onnx' twice"],
  ])('refuse %o', (values, message) => {
    expect(errorOf(() => parseBenchmark(recordInputs(values)))).toContain(message);
  });
});

describe('gate inputs', () => {
  const base = { results: 'results/', 'github-token': 'ghs_x' };

  it('default to gating, always commenting, failing on a clear failure, with the accept label', () => {
    const source = recordInputs(base);
    expect(parseGate(source)).toEqual({
      results: ['results/'],
      budgets: 'budgets.yml',
      githubToken: 'ghs_x',
      mode: 'gate',
      comment: 'always',
      failOn: 'fail',
      acceptLabel: undefined,
    });
    expect(source.masked).toEqual(['ghs_x']);
  });

  it('need no token when they never comment', () => {
    const inputs = parseGate(recordInputs({ results: 'r', comment: 'never' }));
    expect(inputs.githubToken).toBeUndefined();
  });

  it.each([
    [{ ...base, mode: 'check' }, "input 'mode': 'check' is not valid. Use one of gate, comment"],
    [{ ...base, comment: 'sometimes' }, 'Use one of always, on-change, on-failure, never'],
    [{ ...base, 'fail-on': 'warn' }, "input 'fail-on': 'warn' is not valid. Use one of fail, inconclusive"],
    [
      { ...base, mode: 'comment', comment: 'never' },
      "input 'comment': is 'never', so mode 'comment' would do nothing",
    ],
    [{ results: 'r', 'github-token': '' }, "input 'github-token': is empty, and comment is 'always'"],
    [{ 'github-token': 'x' }, "input 'results': is required"],
  ])('refuse %o', (values, message) => {
    expect(errorOf(() => parseGate(recordInputs(values)))).toContain(message);
  });
});

describe('publish inputs', () => {
  const base = { 'model-dir': 'slmops/variants', 'github-token': 'ghs_x' };

  it('default to the tag version, no channel, and a published release', () => {
    const source = recordInputs(base);
    expect(parsePublish(source)).toEqual({
      modelDir: 'slmops/variants',
      version: undefined,
      channel: undefined,
      draft: false,
      githubToken: 'ghs_x',
    });
    expect(source.masked).toEqual(['ghs_x']);
  });

  it.each([
    ['1.2.0', '1.2.0'],
    ['v1.2.0', '1.2.0'],
    ['2.0.0-rc.1+build.5', '2.0.0-rc.1+build.5'],
  ])('read version %s as %s', (raw, version) => {
    expect(parsePublish(recordInputs({ ...base, version: raw })).version).toBe(version);
  });

  it.each([
    [{ ...base, version: '1.2' }, "input 'version': '1.2' is not a semantic version"],
    [{ ...base, channel: 'Stable!' }, "input 'channel': 'Stable!' is not valid"],
    [{ ...base, draft: 'maybe' }, "input 'draft': 'maybe' is not valid. Use true or false"],
    [
      { 'model-dir': 'd', 'github-token': '' },
      "input 'github-token': is empty; publishing creates a release",
    ],
  ])('refuse %o', (values, message) => {
    expect(errorOf(() => parsePublish(recordInputs(values)))).toContain(message);
  });
});
