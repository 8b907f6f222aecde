// End-to-end test of the web player in headless Chromium (Debian's), driven by Playwright.
// Usage: node player.e2e.mjs BASE_URL FIXTURES_DIR ARTIFACTS_DIR
// FIXTURES_DIR holds good1.flac, good2.flac (one album), bad.flac. Users: alice (with an
// empty library), bob (empty), carol (ten never-played tracks, for the latency figure).
// Prints one JSON line with the figures; exits 1 on the first failed check.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [, , base, fixtures, artifacts] = process.argv;
mkdirSync(artifacts, { recursive: true });
const out = {};
let current = null;
const check = (cond, what) => { if (!cond) throw new Error(`check failed: ${what}`); };

// A hung browser must fail the test, not stall CI.
setTimeout(() => { console.log(JSON.stringify({ error: 'timed out after 240 s', ...out })); process.exit(1); }, 240000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});

async function signIn(page, user, password) {
  await page.goto(base + '/');
  await page.getByLabel('User name', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#shell').waitFor({ state: 'visible' });
}

const playingTime = (page) => page.evaluate(() => window.tonearm.player.audio.currentTime);
async function waitPlaying(page, beyond, timeout = 20000) {
  await page.waitForFunction((t) => { const a = window.tonearm.player.audio; return !a.paused && a.currentTime > t; }, beyond, { timeout });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  current = page;
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error('[page]', m.text()); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // First run is covered by the server test; here: sign in.
  await signIn(page, 'alice', 'alice password');

  // What this Chromium plays through MediaSource.
  out.codecs = await page.evaluate(() => ({
    opus_fmp4: MediaSource.isTypeSupported('audio/mp4; codecs="opus"'),
    aac_fmp4: MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'),
    mode: window.tonearm.mode(),
  }));

  // Upload three files, one of them bad: two tracks and one precise error.
  await page.getByRole('link', { name: 'Upload', exact: true }).click();
  await page.locator('input[type=file]:not([webkitdirectory])').setInputFiles(['good1.flac', 'good2.flac', 'bad.flac'].map((f) => join(fixtures, f)));
  await page.waitForFunction(() => document.querySelectorAll('.up-list li.done, .up-list li.rejected').length === 3, null, { timeout: 60000 });
  const done = await page.locator('.up-list li.done').count();
  const rejected = await page.locator('.up-list li.rejected .state').allTextContents();
  check(done === 2, `two uploads added (got ${done})`);
  check(rejected.length === 1 && /not_audio/.test(rejected[0]), `one precise rejection (got ${JSON.stringify(rejected)})`);
  out.rejection = rejected[0];
  await page.screenshot({ path: join(artifacts, 'upload.png') });

  // The album, in track order.
  await page.getByRole('link', { name: 'Albums', exact: true }).click();
  await page.locator('.tile').first().waitFor();
  await page.screenshot({ path: join(artifacts, 'library.png') });
  await page.getByRole('link', { name: /Ágætis byrjun/ }).click();
  await page.locator('table.tracks tbody tr').nth(1).waitFor();
  const titles = await page.locator('table.tracks tbody td:nth-child(2)').allTextContents();
  check(JSON.stringify(titles) === JSON.stringify(['Svefn-g-englar', 'Starálfur']), `album in track order: ${titles}`);

  // Play: time advances past 3 s.
  await page.getByRole('button', { name: '▶ Play' }).click();
  await waitPlaying(page, 3.2);
  out.first_track_time = await playingTime(page);
  await page.screenshot({ path: join(artifacts, 'playing.png') });

  // Seek to the middle and keep playing.
  const duration = await page.evaluate(() => window.tonearm.player.audio.duration);
  check(duration > 15, `duration known (${duration})`);
  await page.evaluate((d) => { window.tonearm.player.audio.currentTime = d / 2; }, duration);
  await waitPlaying(page, duration / 2 + 1.5);
  out.after_seek = await playingTime(page);

  // Next track plays.
  await page.getByRole('button', { name: 'Next track' }).click();
  await page.waitForFunction(() => window.tonearm.player.current?.title === 'Starálfur');
  await waitPlaying(page, 1.0);
  check((await page.locator('#np-title').textContent()) === 'Starálfur', 'now playing shows the next track');

  // The end of a track leads into the next one (prepared while the first still plays).
  await page.evaluate(() => window.tonearm.player.go(0));
  await waitPlaying(page, 0.5);
  await page.evaluate(() => { const a = window.tonearm.player.audio; a.currentTime = a.duration - 3; });
  await page.waitForFunction(() => window.tonearm.player.current?.title === 'Starálfur', null, { timeout: 20000 });
  await waitPlaying(page, 0.5);
  out.gap_prepared = await page.evaluate(() => window.tonearm.player.hls.filter(Boolean).length >= 1);

  // The queue panel: ✕ on the current track plays the one after it.
  await page.evaluate(() => window.tonearm.player.go(0));
  await waitPlaying(page, 0.3);
  await page.getByRole('button', { name: 'Show the queue' }).click();
  await page.getByRole('button', { name: 'Remove Svefn-g-englar from the queue' }).click();
  await page.waitForFunction(() => window.tonearm.player.current?.title === 'Starálfur');
  await waitPlaying(page, 0.3);
  check(await page.locator('#queue-list li').count() === 1, 'the removed track left the queue');
  await page.getByRole('button', { name: 'Close the queue' }).click();

  // Keyboard: space pauses.
  await page.locator('#view').focus();
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.tonearm.player.audio.paused);

  // Search ignores case and diacritics.
  await page.getByLabel('Search').fill('agaetis');
  await page.locator('main h1', { hasText: 'Results for “agaetis”' }).waitFor();
  check(await page.locator('.tile', { hasText: 'Ágætis byrjun' }).count() === 1, 'search finds the album by its folded name');
  await page.getByLabel('Search').fill('SIGUR ROS');
  await page.locator('main h1', { hasText: 'Results for “SIGUR ROS”' }).waitFor();
  await page.getByRole('link', { name: 'Sigur Rós', exact: true }).first().waitFor();
  check(await page.locator('table.tracks tbody tr').count() === 2, 'search finds both tracks by the artist');
  await page.screenshot({ path: join(artifacts, 'search.png') });

  // Create a playlist with both tracks.
  await page.getByRole('link', { name: 'Playlists', exact: true }).click();
  await page.getByRole('button', { name: '+ New playlist' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Síðdegis');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('main h1', { hasText: 'Síðdegis' }).waitFor();
  const plId = Number(page.url().split('/').pop());
  await page.evaluate(async (id) => {
    const tracks = (await window.tonearm.api('/tracks')).items.map((t) => t.id);
    await window.tonearm.api(`/playlists/${id}/tracks`, { method: 'POST', body: { tracks } });
  }, plId);
  await page.reload();
  await page.locator('table.tracks tbody tr').nth(1).waitFor();
  check(await page.locator('table.tracks tbody tr').count() === 2, 'playlist holds two tracks');
  // Reorder with the keyboard-operable buttons (dragging does the same).
  const order = await page.locator('table.tracks tbody td:nth-child(2)').allTextContents();
  await page.getByRole('button', { name: `Move ${order[1]} up` }).click();
  await page.waitForFunction((first) => document.querySelector('table.tracks tbody td:nth-child(2)')?.textContent === first, order[1]);
  const reordered = await page.evaluate(async (id) => (await window.tonearm.api(`/playlists/${id}`)).tracks.map((t) => t.title), plId);
  check(JSON.stringify(reordered) === JSON.stringify([order[1], order[0]]), `playlist reordered on the server: ${reordered}`);

  // App keys for Subsonic apps: made from the page (shown once), usable, revoked.
  await page.getByRole('button', { name: 'App keys', exact: true }).click();
  await page.getByLabel('Key label').fill('Car');
  await page.getByRole('button', { name: 'Make a key' }).click();
  const key = (await page.locator('p.new-key code').textContent()).trim();
  check(/^ta_/.test(key), `a key is shown (${key})`);
  await page.locator('ul.keys li', { hasText: 'Car' }).waitFor();
  const ping = async () => page.evaluate(async (k) => (await (await fetch(`/rest/ping?apiKey=${encodeURIComponent(k)}&f=json`)).json())['subsonic-response'].status, key);
  check(await ping() === 'ok', 'the key signs a Subsonic app in');
  await page.getByRole('button', { name: 'Revoke Car' }).click();
  await page.locator('ul.keys li', { hasText: 'No keys yet.' }).waitFor();
  check(await ping() === 'failed', 'a revoked key signs nothing in');
  await page.getByRole('button', { name: 'Close' }).click();
  out.app_key = 'made, used, revoked';

  // Phone width: the same page, usable.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.getByRole('link', { name: 'Albums', exact: true }).click();
  await page.locator('.tile').first().waitFor();
  await page.screenshot({ path: join(artifacts, 'phone.png') });
  check(errors.length === 0, `no page errors: ${errors}`);
  await context.close();

  // Bob sees none of Alice's tracks.
  const bobCtx = await browser.newContext();
  const bob = await bobCtx.newPage();
  current = bob;
  await signIn(bob, 'bob', 'bob password');
  await bob.getByRole('link', { name: 'Tracks', exact: true }).click();
  await bob.locator('main h1', { hasText: 'Tracks' }).waitFor();
  await bob.waitForTimeout(500);
  check(await bob.locator('table.tracks tbody tr').count() === 0, 'bob sees no tracks');
  const bobTotal = await bob.evaluate(async () => (await window.tonearm.api('/tracks')).total);
  check(bobTotal === 0, 'bob has an empty library');
  await bobCtx.close();

  const carolCtx = await browser.newContext();
  const carol = await carolCtx.newPage();
  current = carol;
  await signIn(carol, 'carol', 'carol password');
  // Time from pressing play on a never-played track to the `playing` event, ten tracks.
  await carol.getByRole('link', { name: 'Tracks', exact: true }).click();
  await carol.locator('table.tracks tbody tr').nth(9).waitFor();
  const lat = [];
  for (let i = 0; i < 10; i++) {
    const ms = await carol.evaluate(async (i) => {
      const p = window.tonearm.player;
      p.audio.pause();
      const btn = document.querySelectorAll('table.tracks tbody button.title')[i];
      const t0 = performance.now();
      const playing = new Promise((res, rej) => {
        const on = (e) => { for (const el of p.els) el.removeEventListener('playing', on); res(performance.now() - t0); };
        for (const el of p.els) el.addEventListener('playing', on);
        setTimeout(() => rej(new Error(`track ${i} did not start playing within 20 s`)), 20000);
      });
      btn.click();
      return playing;
    }, i);
    lat.push(ms);
  }
  lat.sort((a, b) => a - b);
  out.play_latency_ms = { median: (lat[4] + lat[5]) / 2, min: lat[0], max: lat[9], all: lat.map((x) => Math.round(x)) };

  // Carol holds a file Alice already uploaded: it is added instantly, proven, not sent.
  await carol.getByRole('link', { name: 'Upload', exact: true }).click();
  await carol.locator('input[type=file]:not([webkitdirectory])').setInputFiles([join(fixtures, 'good1.flac')]);
  await carol.locator('.up-list li.done').waitFor();
  const instant = await carol.locator('.up-list li.done .state').textContent();
  check(/Added instantly: Svefn-g-englar/.test(instant), `instant upload from the page (${instant})`);

  // Pause and resume a slow upload (the network throttled to 256 kB/s).
  const cdp = await carolCtx.newCDPSession(carol);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: 256 * 1024 });
  await carol.locator('input[type=file]:not([webkitdirectory])').setInputFiles([join(fixtures, 'slow.wav')]);
  const slow = carol.locator('.up-list li', { hasText: 'slow.wav' });
  await carol.waitForFunction(() => { const b = [...document.querySelectorAll('.up-list li')].find((li) => li.textContent.includes('slow.wav'))?.querySelector('progress'); return b && b.value > 0; }, null, { timeout: 30000 });
  await slow.getByRole('button', { name: 'Pause slow.wav' }).click();
  check((await slow.locator('.state').textContent()) === 'Paused', 'the upload pauses');
  const pausedAt = await slow.locator('progress').evaluate((b) => b.value);
  await carol.waitForTimeout(600);
  check((await slow.locator('progress').evaluate((b) => b.value)) === pausedAt, 'nothing is sent while paused');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await slow.getByRole('button', { name: 'Resume slow.wav' }).click();
  await carol.locator('.up-list li.done', { hasText: 'slow.wav' }).waitFor({ timeout: 30000 });
  out.paused_at_bytes = pausedAt;

  await carolCtx.close();
  console.log(JSON.stringify(out));
  await browser.close();
} catch (e) {
  if (current) await current.screenshot({ path: join(artifacts, 'failure.png') }).catch(() => {});
  console.log(JSON.stringify({ error: String(e.stack || e), ...out }));
  await browser.close();
  process.exit(1);
}
