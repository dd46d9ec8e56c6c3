/**
 * Reading Bicep as text, by the template's own conventions (named `var` blocks, one property a line): nothing
 * here can run the Bicep compiler. Shared by the template checks.
 */

/** Text from the bracket that opens after `from` to its matching close (strings may hold `${...}`). */
export function bracketed(text: string, from: number): string | undefined {
  const open = text.slice(from).search(/[{[]/);
  if (open < 0) return undefined;
  const start = from + open;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'" && text[i - 1] !== '\\') inString = !inString;
    if (inString) continue;
    // A comment may hold anything, an apostrophe too: resume at its line break.
    if (ch === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    if (ch === '}' || ch === ']') depth--;
    if (depth === 0) return text.slice(start, i + 1);
  }
  return undefined;
}

export function declaration(
  text: string,
  kind: 'var' | 'module' | 'resource',
  name: string,
): string | undefined {
  const match = new RegExp(`^${kind} ${name}\\b[^\\n=]*=`, 'm').exec(text);
  return match ? bracketed(text, match.index + match[0].length) : undefined;
}

/**
 * The whole value of a declaration, up to the line break that ends it: for a `var` whose value is an
 * expression (`concat(map(...), ...)`) rather than one object or array.
 */
export function declarationValue(
  text: string,
  kind: 'var' | 'module' | 'resource',
  name: string,
): string | undefined {
  const match = new RegExp(`^${kind} ${name}\\b[^\\n=]*=`, 'm').exec(text);
  if (!match) return undefined;
  const start = match.index + match[0].length;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'" && text[i - 1] !== '\\') inString = !inString;
    if (inString) continue;
    // A comment may hold anything, an apostrophe too: resume at its line break.
    if (ch === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
      continue;
    }
    if (ch === '(' || ch === '{' || ch === '[') depth++;
    if (ch === ')' || ch === '}' || ch === ']') depth--;
    if (ch === '\n' && depth === 0) return text.slice(start, i).trim();
  }
  return text.slice(start).trim();
}

/** Top-level keys of a Bicep object literal `{ key: value ... }` (quoted keys too). */
export function objectKeys(objectText: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (const line of objectText.split('\n')) {
    if (depth === 1) {
      const key = /^\s*'?([A-Za-z_][\w-]*)'?\s*:/.exec(line);
      if (key?.[1]) keys.push(key[1]);
    }
    for (const ch of line.replace(/'[^']*'/g, "''").replace(/\/\/.*$/, '')) {
      if (ch === '{' || ch === '[') depth++;
      if (ch === '}' || ch === ']') depth--;
    }
  }
  return keys;
}

export function objectEntries(objectText: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const match of objectText.matchAll(/^\s*'?([A-Za-z_][\w-]*)'?\s*:\s*(.+)$/gm)) {
    if (match[1] && match[2]) entries.set(match[1], match[2].trim());
  }
  return entries;
}

/** Items of an array literal: quoted strings are returned as-is, identifiers resolved through `vars`. */
export function arrayItems(arrayText: string, vars: Map<string, string>): string[] {
  return arrayText
    .replace(/^\[|\]$/g, '')
    .split(/\n|,/)
    .map((item) => item.trim())
    .filter((item) => item.length > 0)
    .map((item) => /^'(.*)'$/.exec(item)?.[1] ?? vars.get(item) ?? `<unresolved ${item}>`);
}

export function stringVars(text: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const match of text.matchAll(/^var (\w+) = '([^'$]*)'$/gm)) {
    if (match[1] && match[2] !== undefined) vars.set(match[1], match[2]);
  }
  return vars;
}

export function hasProperty(text: string | undefined, property: string, value: string): boolean {
  return text !== undefined && new RegExp(`^\\s*${property}:\\s*${value}\\s*$`, 'm').test(text);
}

/** Names of the `@secure()` string parameters of a Bicep file (decorators on the lines above `param`). */
export function secureParams(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/((?:^@[^\n]*\n)+)param (\w+) string\b/gm)) {
    if (match[1]?.includes('@secure()') && match[2]) names.add(match[2]);
  }
  return names;
}
