/**
 * `${{inputs.<name>}}` and `${{outputs.<name>}}` bindings, as in Azure ML job YAML.
 * Only these two forms exist here: there is no parent pipeline to bind to.
 */
export type BindingKind = 'inputs' | 'outputs';

export interface Binding {
  kind: BindingKind;
  name: string;
  /** The binding as written, e.g. `${{ inputs.data }}`. */
  text: string;
}

/** Any `${{ ... }}` expression; its content is checked separately so that bad ones can be reported. */
const EXPRESSION = /\$\{\{([^}]*)\}\}/g;
const REFERENCE = /^\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*$/;

export type ExpressionScan = { bindings: Binding[]; malformed: string[] };

/** Every expression in `text`, split into valid bindings and expressions we cannot resolve. */
export function scanExpressions(text: string): ExpressionScan {
  const bindings: Binding[] = [];
  const malformed: string[] = [];
  for (const match of text.matchAll(EXPRESSION)) {
    const reference = REFERENCE.exec(match[1] ?? '');
    if (reference) bindings.push({ kind: reference[1] as BindingKind, name: reference[2]!, text: match[0] });
    else malformed.push(match[0]);
  }
  return { bindings, malformed };
}

/** The binding when `text` is exactly one binding (as `input_data` and `append_row_to` must be). */
export function soleBinding(text: string): Binding | undefined {
  const trimmed = text.trim();
  const { bindings, malformed } = scanExpressions(trimmed);
  const only = bindings[0];
  return bindings.length === 1 && malformed.length === 0 && only?.text === trimmed ? only : undefined;
}

export function substituteBindings(text: string, valueOf: (binding: Binding) => string): string {
  return text.replace(EXPRESSION, (whole: string, inner: string) => {
    const reference = REFERENCE.exec(inner);
    if (!reference) return whole;
    return valueOf({ kind: reference[1] as BindingKind, name: reference[2]!, text: whole });
  });
}

export function bindingText(kind: BindingKind, name: string): string {
  return `\${{${kind}.${name}}}`;
}
