import { html } from './html';
import { renderPage } from './layout';

/** A folder of a job's outputs or logs: one link per blob or sub-folder. */
export function renderFolderPage(folder: {
  title: string;
  children: Array<{ name: string; size?: number }>;
  truncated: boolean;
  /** The href of a child (a signed download link in the app). */
  childHref: (childName: string) => string;
}): string {
  const items = folder.children.map(
    (child) =>
      html`<li><a href="${folder.childHref(child.name)}">${child.name}</a>${
        child.size === undefined ? undefined : html` <span class="muted">${child.size} bytes</span>`
      }</li>`,
  );
  return renderPage({
    title: folder.title,
    body: html`<h1>${folder.title}</h1><ul id="files">${items}</ul>
${folder.truncated ? html`<p class="muted">Only the first entries are listed; the rest are in storage.</p>` : undefined}`,
  });
}
