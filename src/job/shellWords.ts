/**
 * Splits `program_arguments` into argv the way a POSIX shell would, without expansion:
 * whitespace separates words, single quotes are literal, double quotes allow `\"` `\\` `\$` escapes,
 * and a backslash outside quotes escapes the next character.
 */
export type SplitResult = { ok: true; argv: string[] } | { ok: false; message: string };

export function splitShellWords(text: string): SplitResult {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote)
    return { ok: false, message: `has an unclosed ${quote === '"' ? 'double' : 'single'} quote; close it` };
  if (inWord) argv.push(word);
  return { ok: true, argv };
}
