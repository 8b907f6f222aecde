// Drives tus-js-client (the reference tus client, unchanged) against a Tonearm server.
// Usage: node tus-upload.mjs ENDPOINT TOKEN FILE MODE
//   MODE = full | abort:N (stop after N chunks) | resume:UPLOAD_URL
// Prints one JSON line: {url, offset} after an abort, {url, done, track} on success,
// {error, status, body} on failure (exit 1). CHUNK sets the chunk size in bytes.
import { Upload } from 'tus-js-client';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const [, , endpoint, token, file, mode = 'full'] = process.argv;
const data = readFileSync(file);
let chunks = 0;
const stopAfter = mode.startsWith('abort:') ? Number(mode.slice(6)) : Infinity;

const upload = new Upload(data, {
  endpoint,
  uploadUrl: mode.startsWith('resume:') ? mode.slice(7) : null,
  uploadSize: data.length,
  chunkSize: Number(process.env.CHUNK || 65536),
  metadata: { filename: basename(file), filetype: 'application/octet-stream' },
  headers: { Authorization: `Bearer ${token}` },
  retryDelays: [],
  storeFingerprintForResuming: false,
  onChunkComplete(_size, sent) {
    chunks += 1;
    if (chunks >= stopAfter) {
      upload.abort(false).then(() => {
        console.log(JSON.stringify({ url: upload.url, offset: sent }));
        process.exit(0);
      });
    }
  },
  onSuccess(payload) {
    const res = payload && payload.lastResponse;
    const track = res ? res.getHeader('Tonearm-Track-Id') : undefined;
    console.log(JSON.stringify({ url: upload.url, done: true, track: track ? Number(track) : null }));
    process.exit(0);
  },
  onError(err) {
    const res = err.originalResponse;
    console.log(JSON.stringify({ error: String(err.message || err), status: res ? res.getStatus() : null, body: res ? res.getBody() : null }));
    process.exit(1);
  },
});
upload.start();
