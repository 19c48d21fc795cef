/**
 * The inputs/outputs tables of the actions' READMEs and of docs/actions.md, generated from each action.yml
 * (as changesets/action does), so the documentation cannot drift from the contract. test/actions/docs.test.ts
 * fails when a table is stale; `SLMOPS_UPDATE_DOCS=1 npx vitest run test/actions/docs.test.ts` rewrites them.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './prepare.ts';

export interface ActionSpec {
  name?: string;
  description?: string;
  inputs?: Record<string, { description?: string; required?: boolean; default?: unknown }>;
  outputs?: Record<string, { description?: string }>;
  runs: { using: string; main: string };
}

/** The action folders under `actions/`. */
export function actionNames(root = repoRoot): string[] {
  return readdirSync(path.join(root, 'actions'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ').trim();
}

/**
 * A Markdown table with its columns padded to equal width, as `biome format` (npm run lint) lays tables out, so
 * the generated text is already formatted.
 */
export function alignedTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function inputsTable(spec: ActionSpec): string {
  const rows = Object.entries(spec.inputs ?? {}).map(([name, input]) => [
    `\`${name}\``,
    input.required ? 'yes' : 'no',
    input.default === undefined || input.default === '' ? '' : `\`${String(input.default)}\``,
    cell(input.description ?? ''),
  ]);
  return alignedTable(['Input', 'Required', 'Default', 'Description'], rows);
}

export function outputsTable(spec: ActionSpec): string {
  const rows = Object.entries(spec.outputs ?? {}).map(([name, output]) => [
    `\`${name}\``,
    cell(output.description ?? ''),
  ]);
  return alignedTable(['Output', 'Description'], rows);
}

/** Replaces the text between `<!-- key -->` and `<!-- /key -->`; throws when the markers are missing. */
export function replaceBetweenMarkers(text: string, key: string, content: string, file: string): string {
  const start = `<!-- ${key} -->`;
  const end = `<!-- /${key} -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${file}: missing the markers ${start} … ${end}`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}

/** A README with its generated tables brought up to date. */
export function renderReadme(text: string, spec: ActionSpec, file: string): string {
  const withInputs = replaceBetweenMarkers(text, 'slmops:inputs', inputsTable(spec), file);
  return replaceBetweenMarkers(withInputs, 'slmops:outputs', outputsTable(spec), file);
}

/** docs/actions.md with every action's generated tables brought up to date. */
export function renderActionsDoc(text: string, specs: Record<string, ActionSpec>, file: string): string {
  let result = text;
  for (const [name, spec] of Object.entries(specs)) {
    result = replaceBetweenMarkers(result, `slmops:${name}:inputs`, inputsTable(spec), file);
    result = replaceBetweenMarkers(result, `slmops:${name}:outputs`, outputsTable(spec), file);
  }
  return result;
}
