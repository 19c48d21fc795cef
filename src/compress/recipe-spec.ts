/**
 * The recipe spec grammar: the compact, one-line form of a compression recipe, and the part of a variant id after
 * `@` (`tiny-lm@int4:block=32,sym,acc=0`).
 *
 *   spec    = pass *( "+" pass )                    passes run left to right
 *   pass    = name [ ":" option *( "," option ) ]    the name ends at the FIRST ":" (so `pattern=2:4` is a value)
 *   option  = flag | key "=" value
 *
 * | pass  | options (default first)                                                     |
 * |-------|------------------------------------------------------------------------------|
 * | int8  | `per-tensor` \| `per-channel`; `sym` \| `asym`                               |
 * | int4  | `block=32` (16, 32, 64, 128); `sym` \| `asym`; `acc=0` (accuracy level 0..4) |
 * | fp16  | `keep-io=true` \| `keep-io=false`; `block-ops=Op;Op` (none)                   |
 * | prune | sparsity (`prune:0.5` or `sparsity=0.5`, required unless the pattern is 2:4, |
 * |       | which implies 0.5); `pattern=unstructured` \| `pattern=2:4`;                  |
 * |       | `scope=per-tensor` \| `scope=global`                                          |
 *
 * Any pass also takes the selection options `include-ops=`, `exclude-ops=`, `include-names=`, `exclude-names=`
 * (lists separated by `;`), `min-elements=<n>` (0) and `keep-first-last` (off).
 *
 * The CANONICAL form, used in variant ids, writes every scalar option of a pass in the fixed order of the table, with
 * its default filled in (`int4` → `int4:block=32,sym,acc=0`; `prune:0.5` →
 * `prune:sparsity=0.5,pattern=unstructured,scope=per-tensor`). List options (`block-ops`) and the selection options
 * are written only when they differ from their defaults, after the pass's own options, in the order above; list
 * values are sorted and de-duplicated. In list values, `%`, `,`, `;`, `+` and whitespace are percent-encoded
 * (`%2C` for `,`). Passes keep their order. A recipe file (`slmops.recipe/v1`) describes the same object, so
 * `recipeFromDocument` and `parseRecipeSpec` give equal recipes and the same canonical spec.
 */
import { resolve } from 'node:path';
import { loadRecipeFile } from '../config/load.ts';
import { closest } from '../config/suggest.ts';
import type { RecipeDocument, SelectionDocument } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';

export const PASS_NAMES = ['int8', 'int4', 'fp16', 'prune'] as const;
export type PassName = (typeof PASS_NAMES)[number];

export const INT4_BLOCK_SIZES = [16, 32, 64, 128] as const;

/** Which tensors a pass touches. Empty include lists mean "every tensor the pass supports". */
export interface Selection {
  includeOps: string[];
  excludeOps: string[];
  includeNames: string[];
  excludeNames: string[];
  /** Skip weight tensors with fewer elements. */
  minElements: number;
  /** Leave the first and last eligible layers untouched. */
  keepFirstLast: boolean;
}

export interface Int8Options {
  perChannel: boolean;
  symmetric: boolean;
  /** 7-bit weights, which x86 AVX2 kernels (no VNNI) cannot saturate. */
  reduceRange: boolean;
}

export interface Int4Options {
  block: (typeof INT4_BLOCK_SIZES)[number];
  symmetric: boolean;
  /** onnxruntime MatMulNBits accuracy_level: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8. */
  accuracyLevel: 0 | 1 | 2 | 3 | 4;
}

export interface Fp16Options {
  /** Keep graph inputs and outputs in fp32. */
  keepIo: boolean;
  /** Operator types kept in fp32. */
  blockOps: string[];
}

export interface PruneOptions {
  /** Share of weights set to zero, 0 <= sparsity < 1 (0.5 for the 2:4 pattern). */
  sparsity: number;
  pattern: 'unstructured' | '2:4';
  scope: 'per-tensor' | 'global';
}

/** One pass with every option filled in. */
export type PassSpec =
  | { pass: 'int8'; options: Int8Options; select: Selection }
  | { pass: 'int4'; options: Int4Options; select: Selection }
  | { pass: 'fp16'; options: Fp16Options; select: Selection }
  | { pass: 'prune'; options: PruneOptions; select: Selection };

export interface Recipe {
  passes: PassSpec[];
}

export function defaultSelection(): Selection {
  return {
    includeOps: [],
    excludeOps: [],
    includeNames: [],
    excludeNames: [],
    minElements: 0,
    keepFirstLast: false,
  };
}

const SPEC_FIX =
  'Write passes joined by "+", each as name[:option,...], e.g. "prune:0.5+int8:per-channel" (see docs/contracts.md)';

// -----------------------------------------------------------------------------------------------------------------
// Option tables: how each spec token maps onto a field of the pass options or of the selection.

type Target = 'options' | 'select';
type ListField = 'includeOps' | 'excludeOps' | 'includeNames' | 'excludeNames' | 'blockOps';

interface Flag {
  target: Target;
  field: string;
  value: unknown;
}

interface Keyed {
  target: Target;
  field: string;
  /** How the valid options list shows it (`block=16|32|64|128`). */
  shown: string;
  /** Parses the text after `=`; returns an error phrase (`must be one of 16, 32`) as `{ error }`. */
  parse: (value: string) => { value: unknown } | { error: string };
  /** The value a bare key (no `=`) means, for boolean options. */
  bare?: unknown;
}

interface PassGrammar {
  flags: Record<string, Flag>;
  keyed: Record<string, Keyed>;
  /** prune: a bare number is the sparsity. */
  positional?: { field: string; parse: Keyed['parse'] };
}

const booleanValue: Keyed['parse'] = (v) =>
  v === 'true' ? { value: true } : v === 'false' ? { value: false } : { error: 'must be true or false' };

function oneOf<T extends string | number>(allowed: readonly T[]): Keyed['parse'] {
  return (v) => {
    const match = allowed.find((a) => String(a) === v);
    return match === undefined ? { error: `must be one of ${allowed.join(', ')}` } : { value: match };
  };
}

function integerIn(min: number, max: number): Keyed['parse'] {
  return (v) => {
    const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
    return Number.isSafeInteger(n) && n >= min && n <= max
      ? { value: n }
      : {
          error:
            max === Number.MAX_SAFE_INTEGER
              ? `must be an integer >= ${min}`
              : `must be an integer from ${min} to ${max}`,
        };
  };
}

const sparsityValue: Keyed['parse'] = (v) => {
  const n = /^(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(v) ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n >= 0 && n < 1
    ? { value: n }
    : { error: 'must be a number from 0 up to (not including) 1' };
};

const listValue: Keyed['parse'] = (v) => {
  const items = v.split(';');
  if (items.some((item) => item === '')) return { error: 'must be a ";"-separated list without empty items' };
  const decoded: string[] = [];
  for (const item of items) {
    const text = percentDecode(item);
    if (text === undefined)
      return { error: 'has a "%" that is not followed by two hex digits of an ASCII character' };
    decoded.push(text);
  }
  return { value: decoded };
};

const list = (field: ListField, target: Target, key: string): Keyed => ({
  target,
  field,
  shown: `${key}=<a;b>`,
  parse: listValue,
});

const SELECTION_KEYED: Record<string, Keyed> = {
  'include-ops': list('includeOps', 'select', 'include-ops'),
  'exclude-ops': list('excludeOps', 'select', 'exclude-ops'),
  'include-names': list('includeNames', 'select', 'include-names'),
  'exclude-names': list('excludeNames', 'select', 'exclude-names'),
  'min-elements': {
    target: 'select',
    field: 'minElements',
    shown: 'min-elements=<n>',
    parse: integerIn(0, Number.MAX_SAFE_INTEGER),
  },
  'keep-first-last': {
    target: 'select',
    field: 'keepFirstLast',
    shown: 'keep-first-last[=true|false]',
    parse: booleanValue,
    bare: true,
  },
};

const GRAMMARS: Record<PassName, PassGrammar> = {
  int8: {
    flags: {
      'per-tensor': { target: 'options', field: 'perChannel', value: false },
      'per-channel': { target: 'options', field: 'perChannel', value: true },
      sym: { target: 'options', field: 'symmetric', value: true },
      asym: { target: 'options', field: 'symmetric', value: false },
      'reduce-range': { target: 'options', field: 'reduceRange', value: true },
    },
    keyed: {},
  },
  int4: {
    flags: {
      sym: { target: 'options', field: 'symmetric', value: true },
      asym: { target: 'options', field: 'symmetric', value: false },
    },
    keyed: {
      block: {
        target: 'options',
        field: 'block',
        shown: 'block=16|32|64|128',
        parse: oneOf(INT4_BLOCK_SIZES),
      },
      acc: { target: 'options', field: 'accuracyLevel', shown: 'acc=0..4', parse: integerIn(0, 4) },
    },
  },
  fp16: {
    flags: {},
    keyed: {
      'keep-io': {
        target: 'options',
        field: 'keepIo',
        shown: 'keep-io=true|false',
        parse: booleanValue,
        bare: true,
      },
      'block-ops': list('blockOps', 'options', 'block-ops'),
    },
  },
  prune: {
    flags: {},
    keyed: {
      sparsity: { target: 'options', field: 'sparsity', shown: 'sparsity=<0..1>', parse: sparsityValue },
      pattern: {
        target: 'options',
        field: 'pattern',
        shown: 'pattern=unstructured|2:4',
        parse: oneOf(['unstructured', '2:4']),
      },
      scope: {
        target: 'options',
        field: 'scope',
        shown: 'scope=per-tensor|global',
        parse: oneOf(['per-tensor', 'global']),
      },
    },
    positional: { field: 'sparsity', parse: sparsityValue },
  },
};

function validOptions(pass: PassName): string[] {
  const grammar = GRAMMARS[pass];
  const own = [
    ...(grammar.positional ? ['<sparsity>'] : []),
    ...Object.keys(grammar.flags),
    ...Object.values(grammar.keyed).map((k) => k.shown),
  ];
  return [...own, ...Object.values(SELECTION_KEYED).map((k) => k.shown)];
}

// -----------------------------------------------------------------------------------------------------------------
// Parsing

/** Parses a recipe spec (`prune:0.5+int8:per-channel`) into a recipe with every option filled in. */
export function parseRecipeSpec(spec: string): Recipe {
  const subject = `recipe "${spec}"`;
  const problem = (text: string) => new ConfigurationError(text, { subject, fix: SPEC_FIX });
  if (spec.trim() === '') throw problem('the recipe spec is empty');
  const passes = spec.split('+').map((token, index) => {
    const text = token.trim();
    if (text === '') throw problem(`pass ${index + 1} is empty (a "+" at an end, or two in a row)`);
    const colon = text.indexOf(':');
    const name = (colon < 0 ? text : text.slice(0, colon)).trim();
    if (!isPassName(name)) {
      throw problem(
        `unknown pass "${name}"${suggest(name, PASS_NAMES)}; valid passes: ${PASS_NAMES.join(', ')}`,
      );
    }
    const pass = name;
    const optionText = colon < 0 ? undefined : text.slice(colon + 1);
    if (optionText !== undefined && optionText.trim() === '')
      throw problem(`pass "${pass}" has ":" but no options`);
    const tokens = optionText === undefined ? [] : optionText.split(',').map((o) => o.trim());
    return completePass(pass, parseOptionTokens(pass, tokens, problem), subject);
  });
  return { passes };
}

/** format(parse(spec)): the canonical spec of any accepted spec string. */
export function canonicalRecipeSpec(spec: string): string {
  return formatRecipeSpec(parseRecipeSpec(spec));
}

interface RawPass {
  options: Record<string, unknown>;
  select: Record<string, unknown>;
}

function parseOptionTokens(
  pass: PassName,
  tokens: readonly string[],
  problem: (text: string) => ConfigurationError,
): RawPass {
  const grammar = GRAMMARS[pass];
  const raw: RawPass = { options: {}, select: {} };
  const setBy = new Map<string, string>();
  const set = (target: Target, field: string, value: unknown, token: string) => {
    const key = `${target}.${field}`;
    const earlier = setBy.get(key);
    if (earlier !== undefined) {
      throw problem(
        earlier === token
          ? `option "${token}" of ${pass} is given twice`
          : `options "${earlier}" and "${token}" of ${pass} both set ${field}; keep one`,
      );
    }
    setBy.set(key, token);
    raw[target][field] = value;
  };
  const unknown = (token: string, name: string) => {
    const names = [
      ...Object.keys(grammar.flags),
      ...Object.keys(grammar.keyed),
      ...Object.keys(SELECTION_KEYED),
    ];
    return problem(
      `unknown option "${token}" for pass ${pass}${suggest(name, names)}; valid options: ${validOptions(pass).join(', ')}`,
    );
  };

  for (const token of tokens) {
    if (token === '')
      throw problem(`pass "${pass}" has an empty option (two "," in a row, or one at an end)`);
    const equals = token.indexOf('=');
    if (equals < 0) {
      const flag = own(grammar.flags, token);
      if (flag !== undefined) {
        set(flag.target, flag.field, flag.value, token);
        continue;
      }
      const keyed = own(grammar.keyed, token) ?? own(SELECTION_KEYED, token);
      if (keyed?.bare !== undefined) {
        set(keyed.target, keyed.field, keyed.bare, token);
        continue;
      }
      if (keyed !== undefined) throw problem(`option "${token}" of ${pass} needs a value: ${keyed.shown}`);
      if (grammar.positional !== undefined && /^[\d.]/.test(token)) {
        const parsed = grammar.positional.parse(token);
        if ('error' in parsed)
          throw problem(`${grammar.positional.field} "${token}" of ${pass} ${parsed.error}`);
        set('options', grammar.positional.field, parsed.value, token);
        continue;
      }
      throw unknown(token, token);
    }
    const key = token.slice(0, equals).trim();
    const value = token.slice(equals + 1).trim();
    const keyed = own(grammar.keyed, key) ?? own(SELECTION_KEYED, key);
    if (keyed === undefined) throw unknown(token, key);
    const parsed = keyed.parse(value);
    if ('error' in parsed) throw problem(`option "${key}" of ${pass} ${parsed.error} (got "${value}")`);
    set(keyed.target, keyed.field, parsed.value, token);
  }
  return raw;
}

/** `table[key]` when `key` is the table's own (so `constructor` or `toString` is no option). */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** ` (did you mean "x"?)` when a candidate is close to `word`, else an empty string. */
function suggest(word: string, candidates: readonly string[]): string {
  const match = closest(word, candidates);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}

function isPassName(name: string): name is PassName {
  return (PASS_NAMES as readonly string[]).includes(name);
}

/** Fills in the defaults of one pass and checks what the grammar alone cannot (the prune sparsity). */
function completePass(pass: PassName, raw: RawPass, subject: string): PassSpec {
  const select = completeSelection(raw.select);
  const o = raw.options;
  switch (pass) {
    case 'int8':
      return {
        pass,
        options: {
          perChannel: (o.perChannel as boolean) ?? false,
          symmetric: (o.symmetric as boolean) ?? true,
          reduceRange: (o.reduceRange as boolean) ?? false,
        },
        select,
      };
    case 'int4':
      return {
        pass,
        options: {
          block: (o.block as Int4Options['block']) ?? 32,
          symmetric: (o.symmetric as boolean) ?? true,
          accuracyLevel: (o.accuracyLevel as Int4Options['accuracyLevel']) ?? 0,
        },
        select,
      };
    case 'fp16':
      return {
        pass,
        options: {
          keepIo: (o.keepIo as boolean) ?? true,
          blockOps: sortedUnique((o.blockOps as string[]) ?? []),
        },
        select,
      };
    case 'prune': {
      const pattern = (o.pattern as PruneOptions['pattern']) ?? 'unstructured';
      const given = o.sparsity as number | undefined;
      if (pattern === '2:4' && given !== undefined && given !== 0.5) {
        throw new ConfigurationError(
          `the 2:4 pattern prunes exactly half the weights, but sparsity is ${given}`,
          {
            subject,
            fix: 'Drop the sparsity or set it to 0.5',
          },
        );
      }
      if (pattern === 'unstructured' && given === undefined) {
        throw new ConfigurationError('prune needs a sparsity', {
          subject,
          fix: 'Give the share of weights to remove, e.g. "prune:0.5", or use "prune:pattern=2:4"',
        });
      }
      return {
        pass,
        options: {
          sparsity: given ?? 0.5,
          pattern,
          scope: (o.scope as PruneOptions['scope']) ?? 'per-tensor',
        },
        select,
      };
    }
  }
}

function completeSelection(s: SelectionDocument | Record<string, unknown>): Selection {
  const d = s as SelectionDocument;
  return {
    includeOps: sortedUnique(d.includeOps ?? []),
    excludeOps: sortedUnique(d.excludeOps ?? []),
    includeNames: sortedUnique(d.includeNames ?? []),
    excludeNames: sortedUnique(d.excludeNames ?? []),
    minElements: d.minElements ?? 0,
    keepFirstLast: d.keepFirstLast ?? false,
  };
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// -----------------------------------------------------------------------------------------------------------------
// Formatting

/** The canonical spec of a recipe (see the top of this file). */
export function formatRecipeSpec(recipe: Recipe): string {
  return recipe.passes.map(formatPass).join('+');
}

function formatPass(spec: PassSpec): string {
  const parts: string[] = [];
  switch (spec.pass) {
    case 'int8':
      parts.push(
        spec.options.perChannel ? 'per-channel' : 'per-tensor',
        spec.options.symmetric ? 'sym' : 'asym',
        ...(spec.options.reduceRange ? ['reduce-range'] : []),
      );
      break;
    case 'int4':
      parts.push(
        `block=${spec.options.block}`,
        spec.options.symmetric ? 'sym' : 'asym',
        `acc=${spec.options.accuracyLevel}`,
      );
      break;
    case 'fp16':
      parts.push(`keep-io=${spec.options.keepIo}`);
      if (spec.options.blockOps.length > 0) parts.push(`block-ops=${formatList(spec.options.blockOps)}`);
      break;
    case 'prune':
      parts.push(
        `sparsity=${String(spec.options.sparsity)}`,
        `pattern=${spec.options.pattern}`,
        `scope=${spec.options.scope}`,
      );
      break;
  }
  const s = spec.select;
  if (s.includeOps.length > 0) parts.push(`include-ops=${formatList(s.includeOps)}`);
  if (s.excludeOps.length > 0) parts.push(`exclude-ops=${formatList(s.excludeOps)}`);
  if (s.includeNames.length > 0) parts.push(`include-names=${formatList(s.includeNames)}`);
  if (s.excludeNames.length > 0) parts.push(`exclude-names=${formatList(s.excludeNames)}`);
  if (s.minElements !== 0) parts.push(`min-elements=${s.minElements}`);
  if (s.keepFirstLast) parts.push('keep-first-last=true');
  return `${spec.pass}:${parts.join(',')}`;
}

function formatList(values: readonly string[]): string {
  return sortedUnique(values).map(percentEncode).join(';');
}

function percentEncode(text: string): string {
  return text.replace(/[%,;+\s\p{Cc}]/gu, (c) => {
    const code = c.codePointAt(0)!;
    return code < 0x80 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c);
  });
}

function percentDecode(text: string): string | undefined {
  let invalid = false;
  const decoded = text.replace(/%(.{0,2})/gs, (_, hex: string) => {
    if (!/^[0-7][0-9A-Fa-f]$/.test(hex)) invalid = true;
    return String.fromCharCode(Number.parseInt(hex, 16));
  });
  return invalid ? undefined : decoded;
}

// -----------------------------------------------------------------------------------------------------------------
// Recipe files

/**
 * The recipe a validated `slmops.recipe/v1` document describes, defaults filled in: equal to what
 * `parseRecipeSpec` gives for the same recipe, so both yield the same variant id. `subject` names the file in errors.
 */
export function recipeFromDocument(
  document: RecipeDocument,
  subject = `recipe "${document.name ?? 'file'}"`,
): Recipe {
  return {
    passes: document.passes.map((p) =>
      completePass(p.pass, { options: { ...(p.options ?? {}) }, select: { ...(p.select ?? {}) } }, subject),
    ),
  };
}

/** Whether a `recipes:` entry names a recipe file (ends in .yml, .yaml or .json) rather than a spec string. */
export function isRecipeFileRef(ref: string): boolean {
  return /\.(ya?ml|json)$/i.test(ref.trim());
}

/** A `recipes:` entry → recipe: a file path is loaded (relative to `baseDir`), anything else parsed as a spec. */
export async function resolveRecipe(ref: string, baseDir = '.'): Promise<Recipe> {
  if (!isRecipeFileRef(ref)) return parseRecipeSpec(ref);
  const path = resolve(baseDir, ref.trim());
  return recipeFromDocument(await loadRecipeFile(path), path);
}
