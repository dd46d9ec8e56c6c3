import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { escapeHtml, html, SafeHtml, trustedHtml, type HtmlValue } from '../../../../src/api/pages/html';

const text = (fragment: SafeHtml): string => fragment.toString();
const HOSTILE = `<script>alert("x")</script>&'`;
const ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;';

describe('html escapes every value', () => {
  it('in text', () => {
    expect(text(html`<p>${HOSTILE}</p>`)).toBe(`<p>${ESCAPED}</p>`);
    expect(escapeHtml(HOSTILE)).toBe(ESCAPED);
  });

  it('in double- and single-quoted attributes, so a value cannot close the attribute or add one', () => {
    expect(text(html`<a title="${'" onclick="steal()'}">x</a>`)).toBe(
      '<a title="&quot; onclick=&quot;steal()">x</a>',
    );
    expect(text(html`<a title='${"' onclick='steal()"}'>x</a>`)).toBe(
      "<a title='&#39; onclick=&#39;steal()'>x</a>",
    );
    expect(text(html`<div class="status ${'Running"><b'}" data-n="${7}">`)).toBe(
      '<div class="status Running&quot;&gt;&lt;b" data-n="7">',
    );
  });

  it('in a title, where there are no tags but entities still work', () => {
    expect(text(html`<title>${HOSTILE}: Running</title><p>${'<i>'}</p>`)).toBe(
      `<title>${ESCAPED}: Running</title><p>&lt;i&gt;</p>`,
    );
  });

  it('numbers as text, null and undefined as nothing', () => {
    expect(text(html`<td>${0}</td><td>${12.5}</td><td>${null}</td><td>${undefined}</td>`)).toBe(
      '<td>0</td><td>12.5</td><td></td><td></td>',
    );
  });

  it('in arrays, item by item, nested arrays too', () => {
    const items: HtmlValue[] = ['<a>', html`<b>${'<c>'}</b>`, [1, [null, '&']]];
    expect(text(html`<p>${items}</p>`)).toBe('<p>&lt;a&gt;<b>&lt;c&gt;</b>1&amp;</p>');
    expect(text(html`<ul>${['x', 'y'].map((name) => html`<li>${name}</li>`)}</ul>`)).toBe(
      '<ul><li>x</li><li>y</li></ul>',
    );
    expect(text(html`<p class="${['a', '"b']}">`)).toBe('<p class="a&quot;b">');
  });
});

describe('html in URL attributes', () => {
  const href = (url: string): string => text(html`<a href="${url}">link</a>`);

  it('keeps relative, http(s) and mailto URLs, escaped', () => {
    expect(href('files/logs/a b.txt')).toBe('<a href="files/logs/a b.txt">link</a>');
    expect(href('../job-1/view?x=1&y="2"')).toBe('<a href="../job-1/view?x=1&amp;y=&quot;2&quot;">link</a>');
    expect(href('/api/download/abc.def')).toBe('<a href="/api/download/abc.def">link</a>');
    expect(href('https://example.org/a:b')).toBe('<a href="https://example.org/a:b">link</a>');
    expect(href('mailto:ops@example.org')).toBe('<a href="mailto:ops@example.org">link</a>');
    expect(href('?status=Failed&next=javascript:x')).toBe(
      '<a href="?status=Failed&amp;next=javascript:x">link</a>',
    );
  });

  it('replaces a script or data scheme, however it is spelled', () => {
    for (const url of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      ' \tjavascript:alert(1)',
      'java\nscript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:msgbox',
    ])
      expect({ url, html: href(url) }).toEqual({ url, html: '<a href="#unsafe-url">link</a>' });
    expect(text(html`<img src="${'javascript:x'}"><form action='${'data:x'}'>`)).toBe(
      `<img src="#unsafe-url"><form action='#unsafe-url'>`,
    );
  });

  it('reads the scheme across the text before the value, until a path begins', () => {
    expect(text(html`<a href="java${'script:alert(1)'}">x</a>`)).toBe('<a href="java#unsafe-url">x</a>');
    expect(text(html`<a href="files/${'javascript:x'}">x</a>`)).toBe('<a href="files/javascript:x">x</a>');
    expect(text(html`<a href="?q=${'javascript:x'}">x</a>`)).toBe('<a href="?q=javascript:x">x</a>');
  });
});

describe('html refuses a value where escaping cannot make it safe', () => {
  it.each([
    ['an unquoted attribute', () => html`<a title=${'x onclick=steal()'}>x</a>`],
    ['an event handler', () => html`<button onclick="${'steal()'}">x</button>`],
    ['a tag, outside an attribute value', () => html`<a ${'onclick="steal()"'}>x</a>`],
    ['a tag name', () => html`<${'script'}>alert(1)</script>`],
    ['a closing tag name', () => html`</${'title'}><script>`],
    ['a script', () => html`<script>const name = "${'x'}";</script>`],
    ['a style element', () => html`<style>p { color: ${'red'} }</style>`],
    ['a comment', () => html`<!-- ${'--><script>x</script>'} -->`],
    ['a second value in one URL', () => html`<a href="${'java'}${'script:x'}">x</a>`],
    ['srcdoc, parsed again as HTML', () => html`<iframe srcdoc="${'<script>x</script>'}"></iframe>`],
    ['srcset, a list of URLs', () => html`<img srcset="${'javascript:x 1x'}">`],
  ])('in %s', (_where, render) => {
    expect(render).toThrow(/^html: a value .* cannot be escaped safely/);
  });

  it("anything but a finite number in a style attribute or a meta's content", () => {
    const bar = (width: unknown) => html`<div style="width:${width as number}%"></div>`.toString();
    expect(bar(12.5)).toBe('<div style="width:12.5%"></div>');
    expect(() => bar('1%;background:url(https://elsewhere.example/x)')).toThrow(
      /only a finite number goes into the style attribute/,
    );
    expect(() => bar(Number.NaN)).toThrow(/finite number/);
    // A meta refresh takes seconds, never a URL to go to.
    const refresh = (content: unknown) => html`<meta http-equiv="refresh" content="${content as number}">`;
    expect(refresh(5).toString()).toBe('<meta http-equiv="refresh" content="5">');
    expect(() => refresh('0;url=https://elsewhere.example/')).toThrow(/content attribute/);
  });

  it('a fragment inside an attribute or a title, where its tags would be text', () => {
    expect(() => html`<a title="${html`<b>x</b>`}">x</a>`).toThrow(/goes into content/);
    expect(() => html`<title>${html`<b>x</b>`}</title>`).toThrow(/goes into content/);
  });

  it('nothing after a script, a style or a comment has ended', () => {
    expect(
      text(html`<script>let a = 1;</script><style>p{}</style><!-- note --><p title="${'"'}">${'<'}</p>`),
    ).toBe('<script>let a = 1;</script><style>p{}</style><!-- note --><p title="&quot;">&lt;</p>');
  });
});

describe('the opt-out', () => {
  it('trustedHtml goes in as it is, and so do the fragments html builds', () => {
    expect(text(html`<div>${trustedHtml('<b>bold</b>')}</div>`)).toBe('<div><b>bold</b></div>');
    expect(text(html`<div>${html`<i>${'<x>'}</i>`}</div>`)).toBe('<div><i>&lt;x&gt;</i></div>');
  });

  it('nothing else passes for trusted HTML: a look-alike object is escaped as text', () => {
    const forged = { toString: () => '<b>forged</b>' } as unknown as SafeHtml;
    expect(text(html`<div>${forged as unknown as string}</div>`)).toBe(
      '<div>&lt;b&gt;forged&lt;/b&gt;</div>',
    );
  });

  it('is used only where the pages put in their own stylesheet and script', () => {
    const folder = path.resolve(__dirname, '../../../../src');
    const users = (readdirSync(folder, { recursive: true }) as string[])
      .filter((file) => file.endsWith('.ts'))
      .filter((file) => /\btrustedHtml\(/.test(readFileSync(path.join(folder, file), 'utf8')))
      .map((file) => file.split(path.sep).join('/'));
    expect(users.sort()).toEqual(['api/pages/assets.ts', 'api/pages/html.ts']);
  });
});
