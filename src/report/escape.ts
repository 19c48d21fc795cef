/**
 * Text taken from results goes into Markdown that GitHub renders. Results of fork pull requests were written by
 * untrusted code: neutralize Markdown and HTML, and @-mentions (which would notify people), before showing them.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\\`*_{}[\]()#+!|<>~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/@(?=[A-Za-z0-9-])/g, '@\u200b') // a zero-width space after @: no mention, still readable
    .replace(/\r?\n/g, ' ');
}

/** Inline code that cannot be broken out of: backticks inside are replaced. */
export function code(text: string): string {
  return `\`${text.replace(/`/g, "'").replace(/\r?\n/g, ' ').replace(/@/g, '@\u200b')}\``;
}
