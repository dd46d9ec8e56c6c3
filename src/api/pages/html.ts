/**
 * HTML built by a tagged template that escapes every interpolated value. The template's own text is
 * trusted (it is code); a value is text, whatever it holds: a job name, a task's error message, a file
 * name. The one way to put raw HTML into a page is `trustedHtml(...)`, so every such place can be found
 * with a search for that name.
 *
 * The tag knows where each value goes, from the template's text: into text, into a quoted attribute, or
 * into a URL attribute (`href`, `src`, `action`), where a `javascript:`-like scheme is replaced with a
 * harmless fragment. A value in a place the tag cannot make safe (an unquoted attribute, an event
 * handler, a tag's name, a script, a style element, a comment) is refused when the template is first
 * used, so such a template fails its tests instead of shipping.
 *
 * @example
 *   html`<li><a href="${href}">${name}</a></li>`
 *   html`<ul>${names.map((name) => html`<li>${name}</li>`)}</ul>`
 */

// Set by SafeHtml's static block: only this module makes SafeHtml, and a plain object cannot pass for one
// (the private field makes the type nominal).
let makeSafe: (text: string) => SafeHtml;

/** HTML that is safe to put into a page as it is: built by `html`, or vouched for by `trustedHtml`. */
export class SafeHtml {
  readonly #text: string;

  private constructor(text: string) {
    this.#text = text;
  }

  static {
    makeSafe = (text) => new SafeHtml(text);
  }

  toString(): string {
    return this.#text;
  }
}

/**
 * What a template may interpolate. Booleans are left out on purpose: `${done && html`...`}` would print
 * "false", and `data-done="${done}"` reads better as `String(done)` anyway.
 */
export type HtmlValue = SafeHtml | string | number | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text with the five characters that can end text or a quoted attribute replaced by their entities. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * The opt-out: `text` goes into the page as it is. Only for HTML the app itself wrote (the pages'
 * stylesheet and script files), never for anything a job, a request or storage supplied.
 */
export function trustedHtml(text: string): SafeHtml {
  return makeSafe(text);
}

/**
 * Where a template puts one of its values: element content (`markup`, where a fragment may go too), text
 * that holds no tags (`text`: an attribute value, a title), or a URL attribute.
 */
type Slot =
  | { kind: 'markup' }
  | { kind: 'text' }
  | { kind: 'url'; prefix: string }
  | { kind: 'number'; attribute: string };

/**
 * Attributes whose value is parsed again, as HTML or as a list of URLs: escaping keeps a value inside the
 * attribute, not harmless in it.
 */
const REPARSED_ATTRIBUTES = new Set(['srcdoc', 'srcset', 'imagesrcset']);
/**
 * Attributes whose value is CSS, or on <meta> an instruction (a refresh, which may name a URL): only
 * numbers go in (a width, a percentage, seconds), never text.
 */
const NUMBER_ONLY_ATTRIBUTES = new Set(['style']);
/** Attributes whose value is a URL a browser follows or loads. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'poster', 'cite']);
/** Elements whose content is code or not parsed at all: a value there cannot be made safe by escaping. */
const RAW_TEXT_ELEMENTS = new Set(['script', 'style', 'xmp', 'iframe', 'noembed', 'noframes', 'plaintext']);
/** Elements whose content is text with entities but no tags: an escaped value is safe, a fragment is not. */
const RCDATA_ELEMENTS = new Set(['title', 'textarea']);
/** Schemes a link may use; any other (javascript:, data:, vbscript:) is replaced. Relative URLs have none. */
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto']);
const UNSAFE_URL = '#unsafe-url';
/** What a browser drops from a URL before it reads the scheme: spaces, tabs, newlines, other controls. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is matched here
const CONTROLS_AND_SPACES = /[\s\u0000-\u001f]/g;

type ReaderState = 'text' | 'tag' | 'value' | 'unquoted' | 'comment' | 'raw' | 'rcdata';

/**
 * Reads the template's text as a browser would (text, tags, attributes, comments, raw-text elements) and
 * says where each value goes, or throws for a value in a place it cannot make safe.
 */
function slotsOf(strings: TemplateStringsArray): Slot[] {
  const slots: Slot[] = [];
  let state: ReaderState = 'text';
  let tagName = '';
  let closing = false;
  let attribute = '';
  let quote = '';
  /** The static text of the attribute value read so far, and how many values it holds. */
  let value = '';
  let valuesInAttribute = 0;
  const refuse = (where: string): never => {
    throw new Error(
      `html: a value ${where} cannot be escaped safely; template: ${JSON.stringify(strings.join('${...}'))}`,
    );
  };
  /** The state after a tag's '>': the element's content. */
  const content = (): ReaderState =>
    closing
      ? 'text'
      : RAW_TEXT_ELEMENTS.has(tagName)
        ? 'raw'
        : RCDATA_ELEMENTS.has(tagName)
          ? 'rcdata'
          : 'text';
  strings.forEach((chunk, index) => {
    let at = 0;
    while (at < chunk.length) {
      const rest = chunk.slice(at);
      const c = chunk[at]!;
      if (state === 'text') {
        if (rest.startsWith('<!--')) {
          state = 'comment';
          at += 4;
          continue;
        }
        const tag = /^<(\/?)([a-zA-Z][\w:-]*)/.exec(rest);
        if (tag) {
          state = 'tag';
          closing = tag[1] === '/';
          tagName = tag[2]!.toLowerCase();
          attribute = '';
          at += tag[0].length;
          continue;
        }
      } else if (state === 'comment') {
        if (rest.startsWith('-->')) {
          state = 'text';
          at += 3;
          continue;
        }
      } else if (state === 'raw' || state === 'rcdata') {
        if (rest.slice(0, 2 + tagName.length).toLowerCase() === `</${tagName}`) {
          state = 'tag';
          closing = true;
          at += 2 + tagName.length;
          continue;
        }
      } else if (state === 'tag') {
        const name = /^[^\s"'>/=]+/.exec(rest);
        if (name) {
          attribute = name[0].toLowerCase();
          at += name[0].length;
          continue;
        }
        const assign = /^\s*=\s*/.exec(rest);
        if (assign && attribute) {
          at += assign[0].length;
          const next = chunk[at];
          if (next === '"' || next === "'") {
            state = 'value';
            quote = next;
            value = '';
            valuesInAttribute = 0;
            at += 1;
          } else {
            state = 'unquoted';
          }
          continue;
        }
        if (c === '>') state = content();
        else if (/\s/.test(c)) attribute = '';
      } else if (state === 'value') {
        if (c === quote) {
          state = 'tag';
          attribute = '';
        } else {
          value += c;
        }
      } else if (/[\s>]/.test(c)) {
        // The end of an unquoted attribute value (written in the template, so trusted).
        state = c === '>' ? content() : 'tag';
        attribute = '';
      }
      at += 1;
    }
    if (index === strings.length - 1) return;
    if (state === 'text') {
      if (/<[!/?]?$/.test(chunk)) refuse('as a tag name');
      slots.push({ kind: 'markup' });
    } else if (state === 'rcdata') slots.push({ kind: 'text' });
    else if (state === 'value') {
      if (attribute.startsWith('on')) refuse(`in the event handler attribute ${attribute}`);
      if (REPARSED_ATTRIBUTES.has(attribute))
        refuse(`in the attribute ${attribute}, which the browser parses again`);
      if (NUMBER_ONLY_ATTRIBUTES.has(attribute) || (tagName === 'meta' && attribute === 'content'))
        slots.push({ kind: 'number', attribute });
      else if (URL_ATTRIBUTES.has(attribute)) {
        // The scheme check reads the value with the text before it: one value per URL.
        if (valuesInAttribute > 0) refuse(`after another value in the URL attribute ${attribute}`);
        slots.push({ kind: 'url', prefix: value });
      } else slots.push({ kind: 'text' });
      valuesInAttribute += 1;
    } else if (state === 'unquoted') refuse(`in the unquoted attribute ${attribute} (quote it)`);
    else if (state === 'tag') refuse(`inside the <${tagName}> tag, outside an attribute value`);
    else if (state === 'comment') refuse('inside a comment');
    else refuse(`inside <${tagName}>`);
  });
  return slots;
}

/** Each template's slots, read once: a template literal's strings are the same object at every call. */
const slotCache = new WeakMap<TemplateStringsArray, Slot[]>();

/** A URL value, unless the URL it begins would use a scheme other than http(s) or mailto. */
function safeUrl(prefix: string, text: string): string {
  // Only a value that can still take part in the scheme is checked: after a '/', '?' or '#' it cannot.
  if (/[/?#]/.test(prefix)) return text;
  const scheme = /^([^:/?#]*):/.exec(`${prefix}${text}`.replace(CONTROLS_AND_SPACES, ''));
  return scheme && !SAFE_SCHEMES.has(scheme[1]!.toLowerCase()) ? UNSAFE_URL : text;
}

function render(value: HtmlValue, slot: Slot): string {
  if (value === null || value === undefined) return '';
  if (value instanceof SafeHtml) {
    // A fragment's text holds tags and quotes: it belongs in text, never inside an attribute.
    if (slot.kind !== 'markup')
      throw new Error('html: an HTML fragment goes into content, not an attribute or a title');
    return value.toString();
  }
  if (Array.isArray(value)) return value.map((item: HtmlValue) => render(item, slot)).join('');
  if (slot.kind === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`html: only a finite number goes into the ${slot.attribute} attribute`);
    return String(value);
  }
  const text = String(value);
  return escapeHtml(slot.kind === 'url' ? safeUrl(slot.prefix, text) : text);
}

/** The tag: the template's text as it is, each value escaped for where it goes. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let slots = slotCache.get(strings);
  if (!slots) {
    slots = slotsOf(strings);
    slotCache.set(strings, slots);
  }
  let out = strings[0]!;
  for (let i = 0; i < values.length; i += 1) out += render(values[i], slots[i]!) + strings[i + 1]!;
  return makeSafe(out);
}
