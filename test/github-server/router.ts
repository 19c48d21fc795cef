/** Path templates of the OpenAPI description (`/repos/{owner}/{repo}/git/ref/{ref}`) matched against request paths. */

export interface CompiledTemplate {
  readonly template: string;
  readonly regex: RegExp;
  readonly names: readonly string[];
  /** More literal segments win: `/releases/tags/{tag}` before `/releases/{release_id}/…`. */
  readonly literalSegments: number;
  readonly multiSegments: number;
}

/**
 * A template as a regular expression: a parameter matches one segment, or, when GitHub marks it
 * `x-multi-segment` (refs, tags), one or more segments. Parameters are matched on the raw path and decoded after,
 * so `tags%2Fv1.2.3` (as octokit sends it) and `tags/v1.2.3` are the same ref.
 */
export function compileTemplate(template: string, multiSegment: ReadonlySet<string>): CompiledTemplate {
  const names: string[] = [];
  let literalSegments = 0;
  let multiSegments = 0;
  const source = template
    .split('/')
    .map((segment) => {
      const param = /^\{([^}]+)\}$/.exec(segment);
      if (!param) {
        if (segment !== '') literalSegments++;
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }
      const name = param[1] as string;
      names.push(name);
      if (multiSegment.has(name)) {
        multiSegments++;
        return '(.+)';
      }
      return '([^/]+)';
    })
    .join('/');
  return { template, regex: new RegExp(`^${source}$`), names, literalSegments, multiSegments };
}

/** The decoded parameters when the path matches the template. */
export function matchTemplate(compiled: CompiledTemplate, path: string): Record<string, string> | undefined {
  const match = compiled.regex.exec(path);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  try {
    compiled.names.forEach((name, i) => {
      params[name] = decodeURIComponent(match[i + 1] as string);
    });
  } catch {
    return undefined;
  }
  return params;
}

export function bySpecificity(a: CompiledTemplate, b: CompiledTemplate): number {
  return b.literalSegments - a.literalSegments || a.multiSegments - b.multiSegments;
}
