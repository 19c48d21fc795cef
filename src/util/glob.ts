/** A glob (`*` any run of characters, `?` one character) as an anchored regular expression; `/re/` is a regex. */
export function globToRegExp(glob: string): RegExp {
  if (glob.length > 2 && glob.startsWith('/') && glob.endsWith('/')) return new RegExp(glob.slice(1, -1));
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}
