import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  coreInputs,
  getBooleanInput,
  getEnumInput,
  getListInput,
  getOptionalInput,
  getOptionalPositiveIntInput,
  getPositiveIntInput,
  getRequiredInput,
  getSecretInput,
  getUniqueListInput,
  inputEnvName,
  recordInputs,
} from '../../src/action-kit/inputs.ts';
import { ConfigurationError } from '../../src/errors.ts';

function thrown(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('input environment names', () => {
  it.each([
    ['model', 'INPUT_MODEL'],
    ['out-dir', 'INPUT_OUT-DIR'],
    ['github-token', 'INPUT_GITHUB-TOKEN'],
    ['two words', 'INPUT_TWO_WORDS'],
  ])('reads %s from %s, as the runner sets it', (name, env) => {
    expect(inputEnvName(name)).toBe(env);
  });
});

describe('the runner-backed input source', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reads trimmed INPUT_ variables', () => {
    vi.stubEnv('INPUT_OUT-DIR', '  reports \n');
    expect(getOptionalInput('out-dir', coreInputs)).toBe('reports');
  });

  it('treats an unset input as undefined', () => {
    vi.stubEnv('INPUT_OUT-DIR', '');
    expect(getOptionalInput('out-dir')).toBeUndefined();
  });
});

describe('optional and required inputs', () => {
  it('turns an empty value into undefined', () => {
    expect(getOptionalInput('eval-data', recordInputs({ 'eval-data': '' }))).toBeUndefined();
    expect(getOptionalInput('eval-data', recordInputs({ 'eval-data': '   ' }))).toBeUndefined();
    expect(getOptionalInput('eval-data', recordInputs({ 'eval-data': 'e.jsonl' }))).toBe('e.jsonl');
  });

  it('names a missing required input and how to give it', () => {
    const error = thrown(() => getRequiredInput('model', recordInputs({})));
    expect(error.message).toBe(
      "input 'model': is required and was not given. Set it in the step's `with:` block",
    );
  });
});

describe('boolean inputs', () => {
  it.each([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['', true],
  ])("parse '%s' as %s (empty gives the default)", (value, expected) => {
    expect(getBooleanInput('run', true, recordInputs({ run: value }))).toBe(expected);
  });

  it.each(['yes', '1', 'on', 'tRUE'])(
    "refuse '%s', naming the input, the value and the allowed values",
    (value) => {
      const error = thrown(() => getBooleanInput('run', true, recordInputs({ run: value })));
      expect(error.message).toBe(`input 'run': '${value}' is not valid. Use true or false`);
    },
  );
});

describe('list inputs', () => {
  it('split on newlines, trim, and drop blank lines and # comments', () => {
    const source = recordInputs({ recipes: '\nint8\n  # the small one\n  int4:block=32  \r\n\nfp16\n' });
    expect(getListInput('recipes', source)).toEqual(['int8', 'int4:block=32', 'fp16']);
  });

  it('are empty when the input is empty', () => {
    expect(getListInput('profiles', recordInputs({}))).toEqual([]);
  });

  it('can refuse an entry listed twice', () => {
    const error = thrown(() =>
      getUniqueListInput('models', recordInputs({ models: 'a.onnx\nb.onnx\na.onnx' })),
    );
    expect(error.message).toBe("input 'models': lists 'a.onnx' twice. Remove the duplicate line");
  });
});

describe('enum inputs', () => {
  const modes = ['gate', 'comment'] as const;

  it('accept an allowed value and default when empty', () => {
    expect(getEnumInput('mode', modes, 'gate', recordInputs({ mode: 'comment' }))).toBe('comment');
    expect(getEnumInput('mode', modes, 'gate', recordInputs({}))).toBe('gate');
  });

  it('name the allowed values when the value is not one of them', () => {
    const error = thrown(() => getEnumInput('mode', modes, 'gate', recordInputs({ mode: 'Gate' })));
    expect(error.message).toBe("input 'mode': 'Gate' is not valid. Use one of gate, comment");
  });
});

describe('positive integer inputs', () => {
  it('parse decimal digits and default when empty', () => {
    expect(getPositiveIntInput('threads', 1, recordInputs({ threads: '4' }))).toBe(4);
    expect(getPositiveIntInput('threads', 1, recordInputs({}))).toBe(1);
    expect(getOptionalPositiveIntInput('threads', recordInputs({}))).toBeUndefined();
  });

  it.each(['0', '-1', '1.5', '2e3', 'four', '0x10', '99999999999999999999'])("refuse '%s'", (value) => {
    const error = thrown(() => getPositiveIntInput('threads', 1, recordInputs({ threads: value })));
    expect(error.message).toBe(
      `input 'threads': '${value}' is not valid. Use a positive whole number such as 4`,
    );
  });
});

describe('secret inputs', () => {
  it('mask the value as soon as it is read', () => {
    const source = recordInputs({ 'github-token': 'ghs_secret' });
    expect(getSecretInput('github-token', source)).toBe('ghs_secret');
    expect(source.masked).toEqual(['ghs_secret']);
  });

  it('mask nothing when the secret is empty', () => {
    const source = recordInputs({ 'github-token': '' });
    expect(getSecretInput('github-token', source)).toBeUndefined();
    expect(source.masked).toEqual([]);
  });
});
