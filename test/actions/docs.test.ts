import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type ActionSpec, actionNames, renderActionsDoc, renderReadme } from '../harness/action-docs.ts';
import { repoRoot } from '../harness/prepare.ts';

const update = process.env.SLMOPS_UPDATE_DOCS === '1';
const specs: Record<string, ActionSpec> = Object.fromEntries(
  actionNames().map((name) => [
    name,
    parse(readFileSync(path.join(repoRoot, 'actions', name, 'action.yml'), 'utf8')) as ActionSpec,
  ]),
);

/** Compares a generated document with the committed one, or rewrites it with SLMOPS_UPDATE_DOCS=1. */
function expectFresh(file: string, render: (text: string) => string): void {
  const full = path.join(repoRoot, file);
  const text = readFileSync(full, 'utf8');
  const expected = render(text);
  if (update && expected !== text) writeFileSync(full, expected);
  expect(
    update ? expected : text,
    `${file} is stale: run SLMOPS_UPDATE_DOCS=1 npx vitest run test/actions/docs.test.ts`,
  ).toBe(expected);
}

describe('the action documentation', () => {
  it.each(actionNames())('README of %s has the inputs and outputs tables of its action.yml', (name) => {
    const file = `actions/${name}/README.md`;
    expectFresh(file, (text) => renderReadme(text, specs[name] as ActionSpec, file));
  });

  it('docs/actions.md has the inputs and outputs tables of every action', () => {
    expectFresh('docs/actions.md', (text) => renderActionsDoc(text, specs, 'docs/actions.md'));
  });

  it.each(actionNames())('docs/actions.md lists every input and output of %s', (name) => {
    const doc = readFileSync(path.join(repoRoot, 'docs/actions.md'), 'utf8');
    const section = doc.slice(
      doc.indexOf(`<!-- slmops:${name}:inputs -->`),
      doc.indexOf(`<!-- /slmops:${name}:outputs -->`),
    );
    for (const key of [
      ...Object.keys(specs[name]?.inputs ?? {}),
      ...Object.keys(specs[name]?.outputs ?? {}),
    ]) {
      expect(section).toMatch(new RegExp(`\\| \`${key}\` +\\|`));
    }
  });

  it.each(actionNames())('README of %s covers requirements, usage, inputs, outputs and behaviour', (name) => {
    const readme = readFileSync(path.join(repoRoot, 'actions', name, 'README.md'), 'utf8');
    for (const heading of [
      '## Requirements and permissions',
      '## Usage',
      '## Inputs',
      '## Outputs',
      '## Behaviour',
    ]) {
      expect(readme).toContain(heading);
    }
    expect(readme).toContain(`actions/${name}@`);
  });
});
