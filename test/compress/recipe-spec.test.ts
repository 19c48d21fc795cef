import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  canonicalRecipeSpec,
  formatRecipeSpec,
  isRecipeFileRef,
  parseRecipeSpec,
  recipeFromDocument,
  resolveRecipe,
} from '../../src/compress/recipe-spec.ts';
import { loadRecipeFile } from '../../src/config/load.ts';
import { variantId } from '../../src/contracts/ids.ts';
import { ConfigurationError } from '../../src/errors.ts';

const examples = fileURLToPath(new URL('../../schemas/examples/', import.meta.url));

function errorOf(spec: string): ConfigurationError {
  try {
    parseRecipeSpec(spec);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return error as ConfigurationError;
  }
  throw new Error(`expected "${spec}" to be rejected`);
}

describe('parseRecipeSpec', () => {
  it.each([
    ['int8', 'int8:per-tensor,sym'],
    ['int8:per-channel', 'int8:per-channel,sym'],
    ['int8:asym,per-channel', 'int8:per-channel,asym'],
    ['int8:reduce-range,per-channel', 'int8:per-channel,sym,reduce-range'],
    ['int4', 'int4:block=32,sym,acc=0'],
    ['int4:block=32', 'int4:block=32,sym,acc=0'],
    ['int4:acc=4,asym,block=128', 'int4:block=128,asym,acc=4'],
    ['fp16', 'fp16:keep-io=true'],
    ['fp16:keep-io=false', 'fp16:keep-io=false'],
    ['fp16:block-ops=Softmax;LayerNormalization', 'fp16:keep-io=true,block-ops=LayerNormalization;Softmax'],
    ['prune:0.5', 'prune:sparsity=0.5,pattern=unstructured,scope=per-tensor'],
    ['prune:sparsity=0.30,scope=global', 'prune:sparsity=0.3,pattern=unstructured,scope=global'],
    ['prune:pattern=2:4', 'prune:sparsity=0.5,pattern=2:4,scope=per-tensor'],
    ['prune:0.5+int8', 'prune:sparsity=0.5,pattern=unstructured,scope=per-tensor+int8:per-tensor,sym'],
    [' int8 : per-channel , sym ', 'int8:per-channel,sym'],
    ['int8:exclude-ops=Gather', 'int8:per-tensor,sym,exclude-ops=Gather'],
    [
      'int4:keep-first-last,min-elements=4096,include-ops=MatMul;Gemm;MatMul',
      'int4:block=32,sym,acc=0,include-ops=Gemm;MatMul,min-elements=4096,keep-first-last=true',
    ],
    ['int8:keep-first-last=false,min-elements=0', 'int8:per-tensor,sym'],
  ])('writes %j canonically as %j', (spec, canonical) => {
    expect(canonicalRecipeSpec(spec)).toBe(canonical);
  });

  it('fills in every option of every pass', () => {
    expect(parseRecipeSpec('prune:pattern=2:4+int4:asym')).toEqual({
      passes: [
        {
          pass: 'prune',
          options: { sparsity: 0.5, pattern: '2:4', scope: 'per-tensor' },
          select: {
            includeOps: [],
            excludeOps: [],
            includeNames: [],
            excludeNames: [],
            minElements: 0,
            keepFirstLast: false,
          },
        },
        {
          pass: 'int4',
          options: { block: 32, symmetric: false, accuracyLevel: 0 },
          select: {
            includeOps: [],
            excludeOps: [],
            includeNames: [],
            excludeNames: [],
            minElements: 0,
            keepFirstLast: false,
          },
        },
      ],
    });
  });

  it('lists the valid passes for an unknown pass and suggests the closest', () => {
    const error = errorOf('prune:0.5+int3');
    expect(error.message).toContain(
      'recipe "prune:0.5+int3": unknown pass "int3" (did you mean "int8"?); valid passes: int8, int4, fp16, prune',
    );
    expect(error.subject).toBe('recipe "prune:0.5+int3"');
    expect(errorOf('quantize').message).toContain(
      'unknown pass "quantize"; valid passes: int8, int4, fp16, prune',
    );
  });

  it('lists the valid options of the pass for an unknown option', () => {
    const error = errorOf('int4:blok=32');
    expect(error.message).toContain(
      'unknown option "blok=32" for pass int4 (did you mean "block"?); valid options: sym, asym, block=16|32|64|128, acc=0..4, include-ops=<a;b>',
    );
    expect(errorOf('int8:per-row').message).toContain(
      'valid options: per-tensor, per-channel, sym, asym, reduce-range, include-ops=',
    );
    expect(errorOf('fp16:sym').message).toContain(
      'unknown option "sym" for pass fp16; valid options: keep-io=true|false, block-ops=<a;b>',
    );
  });

  it('says which values are allowed for a bad value', () => {
    expect(errorOf('int4:block=48').message).toContain(
      'option "block" of int4 must be one of 16, 32, 64, 128 (got "48")',
    );
    expect(errorOf('int4:acc=5').message).toContain(
      'option "acc" of int4 must be an integer from 0 to 4 (got "5")',
    );
    expect(errorOf('fp16:keep-io=yes').message).toContain(
      'option "keep-io" of fp16 must be true or false (got "yes")',
    );
    expect(errorOf('prune:pattern=4:8').message).toContain('must be one of unstructured, 2:4 (got "4:8")');
    expect(errorOf('prune:1.5').message).toContain(
      'sparsity "1.5" of prune must be a number from 0 up to (not including) 1',
    );
    expect(errorOf('int8:min-elements=-1').message).toContain('must be an integer >= 0 (got "-1")');
  });

  it('rejects conflicting, repeated and empty pieces', () => {
    expect(errorOf('int8:per-channel,per-tensor').message).toContain(
      'options "per-channel" and "per-tensor" of int8 both set perChannel',
    );
    expect(errorOf('int8:sym,sym').message).toContain('option "sym" of int8 is given twice');
    expect(errorOf('int8+').message).toContain('pass 2 is empty');
    expect(errorOf('int8:').message).toContain('pass "int8" has ":" but no options');
    expect(errorOf('int8:sym,,asym').message).toContain('empty option');
    expect(errorOf('').message).toContain('the recipe spec is empty');
    expect(errorOf('int4:block').message).toContain(
      'option "block" of int4 needs a value: block=16|32|64|128',
    );
    expect(errorOf('int8:include-ops=MatMul;;Gemm').message).toContain('without empty items');
    expect(errorOf('int8:constructor').message).toContain('unknown option "constructor" for pass int8');
    expect(errorOf('int4:toString=1').message).toContain('unknown option "toString=1" for pass int4');
  });

  it('needs a sparsity for unstructured pruning and keeps 2:4 at one half', () => {
    expect(errorOf('prune').message).toContain('prune needs a sparsity');
    expect(errorOf('prune:0.3,pattern=2:4').message).toContain(
      'the 2:4 pattern prunes exactly half the weights, but sparsity is 0.3',
    );
    expect(canonicalRecipeSpec('prune:0.5,pattern=2:4')).toBe(
      'prune:sparsity=0.5,pattern=2:4,scope=per-tensor',
    );
  });

  it('percent-encodes names that contain separators, and decodes them back', () => {
    const recipe = parseRecipeSpec('int8:exclude-names=/model/embed%2Ctokens;a%3Bb%2Bc;with%20space');
    expect(recipe.passes[0]?.select.excludeNames).toEqual(['/model/embed,tokens', 'a;b+c', 'with space']);
    expect(formatRecipeSpec(recipe)).toBe(
      'int8:per-tensor,sym,exclude-names=/model/embed%2Ctokens;a%3Bb%2Bc;with%20space',
    );
    expect(errorOf('int8:exclude-names=50%').message).toContain('"%" that is not followed by two hex digits');
  });
});

describe('formatRecipeSpec', () => {
  const specs = [
    'int8',
    'int4:block=16,asym,acc=2',
    'fp16:keep-io=false,block-ops=Softmax',
    'prune:0.25,scope=global+int8:per-channel',
    'prune:pattern=2:4+int4:include-names=a;b:c%2Cd;x,exclude-ops=Gather',
    'int8:include-names=/model/layers.0/MatMul;%25odd%3Bname%2B,keep-first-last',
  ];

  it.each(specs)('round-trips %j: canonical form is stable and parses back to the same recipe', (spec) => {
    const recipe = parseRecipeSpec(spec);
    const canonical = formatRecipeSpec(recipe);
    expect(parseRecipeSpec(canonical)).toEqual(recipe);
    expect(canonicalRecipeSpec(canonical)).toBe(canonical);
  });
});

describe('recipeFromDocument', () => {
  it('gives a YAML recipe the same variant id as its spec string', async () => {
    const document = await loadRecipeFile(`${examples}recipe.example.yml`);
    const fromFile = recipeFromDocument(document);
    const fromSpec = parseRecipeSpec('prune:0.5+int8:per-channel,exclude-ops=Gather');
    expect(fromFile).toEqual(fromSpec);
    expect(variantId('tiny-lm', fromFile)).toBe(
      'tiny-lm@prune:sparsity=0.5,pattern=unstructured,scope=per-tensor+int8:per-channel,sym,exclude-ops=Gather',
    );
    expect(variantId('tiny-lm', fromFile)).toBe(
      variantId('tiny-lm', 'prune:0.5+int8:per-channel,exclude-ops=Gather'),
    );
  });

  it('gives the JSON recipe example the same variant id as its spec string', async () => {
    const recipe = recipeFromDocument(await loadRecipeFile(`${examples}recipe.example.json`));
    expect(formatRecipeSpec(recipe)).toBe(
      canonicalRecipeSpec('int4:block=64,asym,acc=4,include-ops=MatMul,min-elements=4096,keep-first-last'),
    );
  });

  it('applies the same checks as the spec parser', () => {
    expect(() =>
      recipeFromDocument(
        { schema: 'slmops.recipe/v1', passes: [{ pass: 'prune', options: { scope: 'global' } }] },
        'r.yml',
      ),
    ).toThrow('r.yml: prune needs a sparsity');
  });
});

describe('resolveRecipe', () => {
  it('loads file references relative to a folder and parses anything else as a spec', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slmops-recipe-'));
    writeFileSync(
      join(dir, 'fast.yaml'),
      'schema: slmops.recipe/v1\npasses:\n  - pass: int4\n    options: { block: 64 }\n',
    );
    expect(isRecipeFileRef('fast.yaml')).toBe(true);
    expect(isRecipeFileRef('int4:block=64')).toBe(false);
    expect(formatRecipeSpec(await resolveRecipe('fast.yaml', dir))).toBe('int4:block=64,sym,acc=0');
    expect(formatRecipeSpec(await resolveRecipe('int4:block=64', dir))).toBe('int4:block=64,sym,acc=0');
    await expect(resolveRecipe('missing.yml', dir)).rejects.toThrow('file not found');
    rmSync(dir, { recursive: true, force: true });
  });
});
