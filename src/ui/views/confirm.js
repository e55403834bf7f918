// A modal question before an action that cannot be taken back by accident.

import { useEffect, useRef } from 'preact/hooks';
import { html } from '../html.js';

export function Confirm({ title, children, confirmLabel, danger, onConfirm, onCancel }) {
  const cancel = useRef(null);
  useEffect(() => {
    cancel.current?.focus();
    const onKey = (e) => e.key === 'Escape' && onCancel();
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && onCancel()}>
    <div class="card dialog" role="dialog" aria-modal="true" aria-labelledby="confirm-title" data-testid="confirm">
      <h2 id="confirm-title">${title}</h2>
      <p>${children}</p>
      <div class="actions">
        <button ref=${cancel} onClick=${onCancel}>Cancel</button>
        <button class=${danger ? 'danger' : 'primary'} onClick=${onConfirm}>${confirmLabel}</button>
      </div>
    </div>
  </div>`;
}
