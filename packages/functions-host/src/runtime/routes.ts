/** A compiled ASP.NET-style route template: `orders/{id:int}/{*rest}`, `items/{name?}`. */
export interface CompiledRoute {
  template: string;
  regex: RegExp;
  params: string[];
  /** Literal routes win over parameterised ones, as in ASP.NET routing. */
  precedence: number;
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const constraintPatterns: Record<string, string> = {
  int: '-?\\d+',
  long: '-?\\d+',
  alpha: '[A-Za-z]+',
  bool: '(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])',
  guid: '[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}',
  double: '-?\\d+(?:\\.\\d+)?',
  decimal: '-?\\d+(?:\\.\\d+)?',
  float: '-?\\d+(?:\\.\\d+)?',
};

export function compileRoute(template: string): CompiledRoute {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const params: string[] = [];
  let pattern = '';
  let literalChars = 0;
  const parts = trimmed.split(/(\{[^}]+\})/).filter((part) => part.length > 0);
  for (let index = 0; index < parts.length; index += 1) {
    const part = parts[index] as string;
    const token = /^\{(\*{1,2})?([A-Za-z_][\w]*)(?::([^?=}]+))?(\?)?(?:=[^}]*)?\}$/.exec(part);
    if (!token) {
      pattern += escape(part);
      literalChars += part.length;
      continue;
    }
    const [, catchAll, name, constraint, optional] = token;
    const group = `p${params.length}`;
    params.push(name as string);
    const constraintName = constraint?.split(':')[0]?.replace(/\(.*$/, '').toLowerCase();
    const body = catchAll
      ? '.*'
      : constraintName && constraintPatterns[constraintName]
        ? constraintPatterns[constraintName]
        : '[^/]+';
    if ((optional || catchAll) && pattern.endsWith('/')) {
      pattern = pattern.slice(0, -1) + `(?:/(?<${group}>${body}))?`;
    } else {
      pattern += optional ? `(?<${group}>${body})?` : `(?<${group}>${body})`;
    }
  }
  return {
    template: trimmed,
    regex: new RegExp(`^${pattern}/?$`, 'i'),
    params,
    precedence: literalChars * 10 - params.length,
  };
}

/** Like ASP.NET routing, a malformed escape is left as it is instead of failing the request. */
function decodeOrKeep(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const match = route.regex.exec(path.replace(/^\/+/, ''));
  if (!match) return undefined;
  const params: Record<string, string> = {};
  route.params.forEach((name, index) => {
    const value = match.groups?.[`p${index}`];
    if (value !== undefined) params[name] = decodeOrKeep(value);
  });
  return params;
}
