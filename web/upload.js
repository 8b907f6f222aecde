// The uploader (the Upload view's contents): files picked or dropped (folders walked, only
// audio files from them), two at a time, each first offered as an instant upload (proof of
// holding a file the server already has, needs WebCrypto) and else sent resumably with tus
// (the `tus` global from /vendor/tus.min.js), with pause and resume and a progress bar
// per file and overall.

import { api, store } from './api.js';
import { h, announce } from './ui.js';

const AUDIO_EXT = /\.(mp3|flac|m4a|mp4|m4b|aac|alac|ogg|oga|opus|wav|wave)$/i;

export const uploader = {
  items: [],
  running: 0,
  list: h('ul', { class: 'up-list', 'aria-label': 'Uploads' }),
  overall: h('progress', { max: 1, value: 0, 'aria-label': 'All uploads' }),
  summary: h('p', { class: 'note' }),
  view() {
    const input = h('input', { type: 'file', multiple: true, onchange: (e) => { this.add([...e.target.files]); e.target.value = ''; } });
    const folder = h('input', { type: 'file', multiple: true, webkitdirectory: true, onchange: (e) => { this.add([...e.target.files].filter((f) => AUDIO_EXT.test(f.name))); e.target.value = ''; } });
    const drop = h('div', { class: 'drop' }, 'Drop music files or folders here, or ',
      h('label', { class: 'link' }, h('u', {}, 'choose files'), h('span', { class: 'visually-hidden' }, input)), ' or ',
      h('label', { class: 'link' }, h('u', {}, 'a folder'), h('span', { class: 'visually-hidden' }, folder)), '.');
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', async (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      this.add(await filesFromDrop(e.dataTransfer));
    });
    return h('section', { class: 'uploader' }, h('h1', {}, 'Upload'), drop, h('div', { class: 'toolbar' }, this.overall, this.summary), this.list);
  },
  add(files) {
    for (const file of files) {
      const state = h('span', { class: 'state' }, 'Waiting');
      const bar = h('progress', { max: file.size || 1, value: 0, 'aria-label': `Progress of ${file.name}` });
      const toggle = h('button', { 'aria-label': `Pause ${file.name}` }, 'Pause');
      const li = h('li', {}, h('span', { class: 'name' }, file.webkitRelativePath || file.name), bar, toggle, state);
      const item = { file, li, bar, state, toggle, sent: 0, done: false, paused: false, upload: null };
      toggle.addEventListener('click', () => this.pause(item));
      this.items.push(item);
      this.list.append(li);
    }
    this.pump();
    this.refresh();
  },
  pause(item) {
    if (item.done) return;
    item.paused = !item.paused;
    item.toggle.textContent = item.paused ? 'Resume' : 'Pause';
    item.toggle.setAttribute('aria-label', `${item.paused ? 'Resume' : 'Pause'} ${item.file.name}`);
    if (item.paused && item.upload) { item.upload.abort(); item.state.textContent = 'Paused'; }
    if (!item.paused) { if (item.upload) { item.upload.start(); item.state.textContent = 'Uploading'; } else this.pump(); }
  },
  refresh() {
    const total = this.items.reduce((a, i) => a + i.file.size, 0) || 1;
    const sent = this.items.reduce((a, i) => a + (i.done ? i.file.size : i.sent), 0);
    this.overall.max = total; this.overall.value = sent;
    const done = this.items.filter((i) => i.done && !i.error).length, bad = this.items.filter((i) => i.error).length;
    this.summary.textContent = `${done} added, ${bad} rejected, ${this.items.length - done - bad} to go`;
  },
  pump() {
    while (this.running < 2) {
      const next = this.items.find((i) => !i.started && !i.paused);
      if (!next) return;
      next.started = true;
      this.running++;
      this.send(next).finally(() => { this.running--; this.refresh(); this.pump(); });
    }
  },
  finish(item, ok, text) {
    item.done = true;
    item.error = !ok;
    item.li.classList.add(ok ? 'done' : 'rejected');
    item.state.textContent = text;
    item.bar.value = item.bar.max;
    item.toggle.hidden = true;
    announce(`${item.file.name}: ${text}`);
  },
  async send(item) {
    try {
      const track = await instantUpload(item.file);
      if (track) return this.finish(item, true, `Added instantly: ${track.title}`);
    } catch (e) {
      if (e.status && e.status !== 422) return this.finish(item, false, `Rejected: ${e.message} (${e.code})`);
    }
    item.state.textContent = 'Uploading';
    await new Promise((resolve) => {
      item.upload = new tus.Upload(item.file, {
        endpoint: '/api/v1/uploads',
        headers: { Authorization: `Bearer ${store.token}` },
        metadata: { filename: item.file.name, filetype: item.file.type || 'application/octet-stream' },
        chunkSize: 64 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000],
        removeFingerprintOnSuccess: true,
        onProgress: (sent) => { item.sent = sent; item.bar.value = sent; this.refresh(); },
        onSuccess: async (payload) => {
          const id = payload?.lastResponse?.getHeader('Tonearm-Track-Id');
          let title = item.file.name;
          try { if (id) title = (await api(`/tracks/${id}`)).title; } catch { /* keep the file name */ }
          this.finish(item, true, `Added: ${title}`);
          resolve();
        },
        onError: (err) => {
          let msg = err.message;
          const res = err.originalResponse;
          try { const e = JSON.parse(res.getBody()).error; msg = `${e.message} (${e.code})`; } catch { /* not our JSON */ }
          this.finish(item, false, `Rejected: ${msg}`);
          resolve();
        },
      });
      item.upload.findPreviousUploads().then((prev) => {
        if (prev.length) item.upload.resumeFromPreviousUpload(prev[0]);
        if (!item.paused) item.upload.start();
      });
    });
  },
};

// Files from a drop, folders walked (webkitGetAsEntry); from folders only audio files.
async function filesFromDrop(dt) {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return [...dt.files];
  const out = [];
  const walk = async (entry, inFolder) => {
    if (entry.isFile) {
      const f = await new Promise((res, rej) => entry.file(res, rej));
      if (!inFolder || AUDIO_EXT.test(f.name)) out.push(f);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, true);
      }
    }
  };
  for (const e of entries) await walk(e, false);
  return out;
}

async function sha256Hex(buf) {
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// Proves possession of a file the server may already hold. Needs WebCrypto (a secure
// context: https or localhost) and reads the whole file once, so large files skip it.
async function instantUpload(file) {
  if (!globalThis.crypto?.subtle || file.size > 256e6 || file.size === 0) return null;
  const sha256 = await sha256Hex(await file.arrayBuffer());
  const c = await api('/uploads/instant', { method: 'POST', body: { sha256, size: file.size, filename: file.name } });
  const proofs = [];
  for (const r of c.ranges) proofs.push(await sha256Hex(await file.slice(r.offset, r.offset + r.length).arrayBuffer()));
  try {
    return await api(`/uploads/instant/${c.challenge}`, { method: 'POST', body: { proofs } });
  } catch (e) {
    if (e.code === 'proof_failed') return null;
    throw e;
  }
}
