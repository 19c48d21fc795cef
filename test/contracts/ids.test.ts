import { describe, expect, it } from 'vitest';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import {
  assertProfileId,
  ExitCode,
  isProfileId,
  modelId,
  parseVariantId,
  SLUG_MAX_LENGTH,
  slug,
  variantId,
} from '../../src/contracts/ids.ts';
import { ConfigurationError } from '../../src/errors.ts';

describe('modelId', () => {
  it('uses the config name when there is one', () => {
    expect(modelId('tiny-lm-v2', 'models/tiny-lm/model.onnx')).toBe('tiny-lm-v2');
  });

  it("uses the model file's stem", () => {
    expect(modelId(undefined, 'models/qwen2.5-0.5b.onnx')).toBe('qwen2.5-0.5b');
    expect(modelId(undefined, 'tiny.int8.onnx')).toBe('tiny.int8');
    expect(modelId('', 'phi.onnx')).toBe('phi');
  });

  it('uses the folder name when the stem is the generic "model"', () => {
    expect(modelId(undefined, 'models/tiny-lm/model.onnx')).toBe('tiny-lm');
    expect(modelId(undefined, 'C:\\work\\models\\tiny-lm\\model.onnx')).toBe('tiny-lm');
    expect(modelId(undefined, './tiny-lm/Model.onnx')).toBe('tiny-lm');
    expect(modelId(undefined, 'model.onnx')).toBe('model');
  });

  it('rejects ids with "@" or whitespace, which would break variant ids', () => {
    expect(() => modelId('tiny@lm', 'm.onnx')).toThrow(ConfigurationError);
    expect(() => modelId(undefined, 'models/my model.onnx')).toThrow('--name on the command line');
  });
});

describe('variantId', () => {
  it('joins the model id and the canonical recipe spec with "@"', () => {
    expect(variantId('tiny-lm', 'int4:block=32')).toBe('tiny-lm@int4:block=32,sym,acc=0');
    expect(variantId('tiny-lm', parseRecipeSpec('int4'))).toBe('tiny-lm@int4:block=32,sym,acc=0');
  });

  it('is the model id alone for the uncompressed model', () => {
    expect(variantId('tiny-lm')).toBe('tiny-lm');
    expect(variantId('tiny-lm', { passes: [] })).toBe('tiny-lm');
  });

  it('splits back at the first "@"', () => {
    expect(parseVariantId('tiny-lm@prune:pattern=2:4+int8:sym')).toEqual({
      modelId: 'tiny-lm',
      recipeSpec: 'prune:pattern=2:4+int8:sym',
    });
    expect(parseVariantId('tiny-lm')).toEqual({ modelId: 'tiny-lm' });
  });
});

describe('slug', () => {
  it('keeps ids that are already safe unchanged', () => {
    expect(slug('tiny-lm')).toBe('tiny-lm');
    expect(slug('rpi5-8gb')).toBe('rpi5-8gb');
    expect(slug('qwen2.5-0.5b@int8,x=1+y')).toBe('qwen2.5-0.5b@int8,x=1+y');
  });

  it('replaces unsafe characters readably and appends a hash of the id', () => {
    const s = slug('tiny-lm@int4:block=32,sym,acc=0');
    expect(s).toMatch(/^tiny-lm@int4_block=32,sym,acc=0~[0-9a-f]{10}$/);
    expect(slug('tiny-lm@int4:block=32,sym,acc=0')).toBe(s);
    expect(slug('a b\tc')).toMatch(/^a-b-c~[0-9a-f]{10}$/);
  });

  it('never leaves a character that files or artifact names forbid', () => {
    const s = slug('x:/\\"<>|*?\u0000\n\u00e9\u{1F600}~y');
    expect(s).not.toMatch(/[:/\\"<>|*?\s\p{Cc}]/u);
    expect(s).toMatch(/^x_{10}-_{2}_y~[0-9a-f]{10}$/);
  });

  it('gives different slugs to ids that differ only in replaced characters', () => {
    const ids = ['a:b', 'a/b', 'a_b', 'a?b', 'a b', 'a-b', `a_b~${'0'.repeat(10)}`];
    const slugs = ids.map(slug);
    expect(new Set(slugs).size).toBe(ids.length);
  });

  it('does not give an id that looks like a hashed slug the slug it looks like', () => {
    const hashed = slug('a:b');
    expect(slug(hashed)).not.toBe(hashed);
  });

  it('never produces "." or "..", hidden files or Windows device names', () => {
    expect(slug('..')).toMatch(/^__~/);
    expect(slug('.hidden')).toMatch(/^_hidden~/);
    expect(slug('trailing.')).toMatch(/^trailing_~/);
    expect(slug('nul')).toMatch(/^nul~[0-9a-f]{10}$/);
  });

  it('cuts long ids to at most 200 characters and keeps them distinct', () => {
    const long = `m@${'int8:per-channel+'.repeat(20)}int8`;
    const other = `${long}x`;
    expect(slug(long).length).toBeLessThanOrEqual(SLUG_MAX_LENGTH);
    expect(slug(long)).not.toBe(slug(other));
    expect(slug('a'.repeat(300))).toHaveLength(SLUG_MAX_LENGTH);
  });

  it('rejects an empty id', () => {
    expect(() => slug('')).toThrow(ConfigurationError);
  });
});

describe('profile ids', () => {
  it('accepts lowercase letters, digits, "-", "." and "_" after a letter or digit', () => {
    for (const id of ['rpi5-8gb', 'n100', 'jetson.orin_nano', '7840u']) expect(isProfileId(id)).toBe(true);
    for (const id of ['RPi5', '-rpi', '.rpi', 'rpi 5', '', 'a'.repeat(65)])
      expect(isProfileId(id)).toBe(false);
  });

  it('explains the rule and suggests a valid id', () => {
    expect(assertProfileId('rpi5')).toBe('rpi5');
    expect(() => assertProfileId('Raspberry Pi 5', 'profiles[0]')).toThrow(
      'profiles[0]: "Raspberry Pi 5" is not a valid profile id: use lowercase letters',
    );
    expect(() => assertProfileId('Raspberry Pi 5')).toThrow('Rename the profile such as "raspberry-pi-5"');
  });
});

describe('exit codes', () => {
  it('re-exports the exit codes of the CLI contract', () => {
    expect(ExitCode).toEqual({ Success: 0, GateFailed: 1, UsageOrInput: 2, Internal: 3 });
  });
});
