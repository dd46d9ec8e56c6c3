import { readFileSync } from 'node:fs';
import { shippedFile } from '../../appFolder';
import { trustedHtml, type SafeHtml } from './html';

/**
 * The pages' stylesheet and script, each one file in src/api/pages/ (pages.css, pages.js), put into every
 * page as an inline <style> and an inline <script> under the page's nonce. Inline, because the pages'
 * CSP then stays as it is (no 'self' source for scripts or styles) and a page needs no second request:
 * a page is opened with its function key in its own address, and a separate file's request would have to
 * go without a key (an anonymous route) or carry it in a URL.
 */

/** The file's text for the inside of `<element>`, refused if it could end the element or open a comment. */
function elementContent(name: string, element: 'script' | 'style'): string {
  const text = readFileSync(shippedFile(`api/pages/${name}`), 'utf8');
  if (new RegExp(`</${element}|<!--`, 'i').test(text))
    throw new Error(`${name} holds '</${element}' or '<!--', which would end its <${element}> early.`);
  return text;
}

let assets: { style: string; script: string } | undefined;

/** The stylesheet and the script, read once per process: they change only with a new deployment. */
function pageAssets(): { style: string; script: string } {
  assets ??= { style: elementContent('pages.css', 'style'), script: elementContent('pages.js', 'script') };
  return assets;
}

/** The pages' stylesheet as a <style> element. */
export function styleElement(): SafeHtml {
  return trustedHtml(`<style>${pageAssets().style}</style>`);
}

/**
 * The pages' script as a <script> element, with the nonce the page's Content-Security-Policy names
 * (none when a test renders the HTML only).
 */
export function scriptElement(nonce: string | undefined): SafeHtml {
  // A nonce is base64 (scriptNonce in serving.ts): checked, since it is written into the tag as it is.
  if (nonce !== undefined && !/^[A-Za-z0-9+/=]+$/.test(nonce)) throw new Error('A script nonce is base64.');
  return trustedHtml(`<script${nonce ? ` nonce="${nonce}"` : ''}>${pageAssets().script}</script>`);
}
