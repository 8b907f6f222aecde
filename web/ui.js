// DOM helpers shared by the views, the player and the uploader: `$`, the element builder
// h() (text always set as text: tags are data, never markup), time and size formats, the
// screen-reader status line, lazily loaded covers, the modal form dialog, drag-to-reorder
// rows, and the "playing" mark on track rows.

import { coverUrl } from './api.js';

export const $ = (sel) => document.querySelector(sel);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function fmtTime(s) {
  if (!Number.isFinite(s) || s < 0) s = 0;
  const m = Math.floor(s / 60), sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
export function fmtBytes(n) {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}
export function announce(text) { $('#status').textContent = text; }

// A cover image, fetched (see coverUrl) only when it scrolls into view.
const coverObserver = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (!e.isIntersecting) continue;
    coverObserver.unobserve(e.target);
    coverUrl(e.target.dataset.cover).then((u) => { if (u) e.target.src = u; });
  }
}, { rootMargin: '200px' });
export function cover(path, cls = 'cover', size = 300) {
  const img = h('img', { class: cls, alt: '', loading: 'lazy', dataset: { cover: `${path}?size=${size}` } });
  if (path) coverObserver.observe(img);
  return img;
}

// The modal form: resolves to {name: value} on submit, null on cancel.
export function dialog(title, fields, submitLabel) {
  const d = $('#dialog'), form = $('#dialog-form');
  form.replaceChildren(h('h2', {}, title), ...fields.map((f) => h('label', {}, f.label,
    h('input', { name: f.name, value: f.value ?? '', type: f.type || 'text', required: f.required, autocomplete: f.autocomplete || 'off' }))),
  h('p', { class: 'error', id: 'dialog-error', role: 'alert' }),
  h('div', { class: 'row' }, h('button', { value: 'cancel', formnovalidate: true }, 'Cancel'), h('button', { value: 'ok', class: 'primary' }, submitLabel)));
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener('close', () => {
      if (d.returnValue !== 'ok') return resolve(null);
      const out = {};
      for (const f of fields) out[f.name] = form.elements[f.name].value;
      resolve(out);
    }, { once: true });
  });
}

// Drag a row to reorder its siblings (HTML5 drag and drop); `done` runs after a drop.
export function dragReorder(row, parent, done) {
  row.draggable = true;
  row.addEventListener('dragstart', (e) => { e.dataTransfer.effectAllowed = 'move'; parent.dragging = row; });
  row.addEventListener('dragover', (e) => { e.preventDefault(); row.classList.add('drop-target'); });
  row.addEventListener('dragleave', () => row.classList.remove('drop-target'));
  row.addEventListener('drop', (e) => {
    e.preventDefault();
    row.classList.remove('drop-target');
    const moving = parent.dragging;
    if (moving && moving !== row) { parent.insertBefore(moving, row); done(); }
  });
}

// Marks the track rows (tr[data-id]) under `root` that show track `id` as playing.
export function markPlaying(root, id) {
  for (const r of root.querySelectorAll('tr[data-id]')) r.classList.toggle('playing', Number(r.dataset.id) === id);
}
