#!/usr/bin/env node
// players.mjs: plays one room with dash.js (LL-DASH, /dash/{room}/manifest.mpd) and hls.js
// (LL-HLS, /hls/{room}/index.m3u8) side by side in Debian's headless Chromium, both in
// low-latency mode, and prints each player's live latency once per second, for the e2e
// tests (dash_test.go) and for comparing the two by hand.
//
//   node e2e/players.mjs http://127.0.0.1:8080 ROOM [--seconds=N] [--only=dash|hls] [--seek-back=S]
//
// --seek-back=S: 3 s after dash.js starts playing, it seeks S seconds behind the live edge
// (into the MPD's DVR window: player.seek(player.duration() - S)), with live catch-up off so
// that it stays there; its samples then carry seeked: true.
//
// The page and the players' scripts (from this directory's node_modules: dashjs 5.x and
// hls.js; nothing is embedded in Glint) are answered by Playwright's request routing on the
// server's own origin, so the media requests are same-origin like on Glint's watch page.
//
// Every second: {"t":N, "dash":{...}, "hls":{...}} with, per player, currentTime, latency
// (the player's own estimate: dash.js getCurrentLiveLatency, against the MPD's UTCTiming
// clock; hls.js latency, from the playlist's edge), g2gMs (wall clock minus the wall-clock
// time of the frame on screen: dash.js timeAsUTC, hls.js playingDate from
// EXT-X-PROGRAM-DATE-TIME; both are capture times), bufferS, playbackRate, lowLatency,
// width/height, dvrWindow (dash.js: the DVR window's size in seconds), seeked, error. Ends with {"result":{"ok":bool,"failure":"..."}}: ok when each
// player played (currentTime advanced and a frame was decoded).
// Env: CHROMIUM = the browser binary (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const scripts = {
  '/__players/dash.all.min.js': path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
  '/__players/hls.min.js': path.join(here, 'node_modules/hls.js/dist/hls.min.js'),
};

const [base, room, ...rest] = process.argv.slice(2);
if (!base || !room) {
  console.error('usage: node players.mjs BASE-URL ROOM [--seconds=N] [--only=dash|hls]');
  process.exit(2);
}
let seconds = 30;
let only = '';
let seekBack = 0;
for (const arg of rest) {
  const m = arg.match(/^--(seconds|only|seek-back)=(.*)$/);
  if (!m) throw new Error(`unknown argument ${arg}`);
  if (m[1] === 'seconds') seconds = Number(m[2]);
  else if (m[1] === 'seek-back') seekBack = Number(m[2]);
  else only = m[2];
}

const page = `<!doctype html><meta charset="utf-8"><title>players</title>
<video id="dash" muted playsinline width="320"></video>
<video id="hls" muted playsinline width="320"></video>
<script src="/__players/dash.all.min.js"></script>
<script src="/__players/hls.min.js"></script>
<script>
const room = ${JSON.stringify(room)}, only = ${JSON.stringify(only)}, seekBack = ${JSON.stringify(seekBack)};
const state = { dash: { error: '' }, hls: { error: '' } };
window.playersState = state;
const videoInfo = (v) => ({ currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight,
  decoded: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
  playbackRate: v.playbackRate, bufferS: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0 });
if (only !== 'hls') {
  const v = document.getElementById('dash');
  const player = dashjs.MediaPlayer().create();
  player.updateSettings({ streaming: { liveCatchup: { enabled: seekBack === 0 } } });
  player.on('error', (e) => { state.dash.error = JSON.stringify(e.error || e).slice(0, 300); });
  if (seekBack > 0) {
    const seekOnce = () => {
      player.off(dashjs.MediaPlayer.events.PLAYBACK_PLAYING, seekOnce);
      setTimeout(() => { player.seek(Math.max(0, player.duration() - seekBack)); state.dash.seeked = true; }, 3000);
    };
    player.on(dashjs.MediaPlayer.events.PLAYBACK_PLAYING, seekOnce);
  }
  player.initialize(v, '/dash/' + room + '/manifest.mpd', true);
  window.dashSample = () => {
    let latency = null, g2gMs = null, target = null, ll = null;
    try {
      latency = player.getCurrentLiveLatency();
      target = player.getTargetLiveDelay();
      ll = player.getLowLatencyModeEnabled();
      const utc = player.timeAsUTC();
      if (utc > 0 && v.currentTime > 0) g2gMs = Date.now() - utc * 1000;
    } catch (e) { /* not initialized yet */ }
    let dvrWindow = null;
    try { dvrWindow = player.getDvrWindow().size; } catch (e) { /* not initialized yet */ }
    return Object.assign(videoInfo(v), { latency, targetLatency: target, lowLatency: ll, g2gMs, dvrWindow,
      seeked: !!state.dash.seeked, error: state.dash.error });
  };
}
if (only !== 'dash') {
  const v = document.getElementById('hls');
  const hls = new Hls({ lowLatencyMode: true });
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) state.hls.error = d.type + ': ' + d.details; });
  hls.loadSource('/hls/' + room + '/index.m3u8');
  hls.attachMedia(v);
  v.play().catch(() => {});
  window.hlsSample = () => {
    const date = hls.playingDate;
    return Object.assign(videoInfo(v), { latency: hls.latency, targetLatency: hls.targetLatency,
      lowLatency: hls.lowLatencyMode, g2gMs: date && v.currentTime > 0 ? Date.now() - date.getTime() : null,
      levels: hls.levels ? hls.levels.length : 0, videoCodec: hls.levels?.[hls.currentLevel]?.videoCodec ?? '',
      error: state.hls.error });
  };
}
</script>`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--autoplay-policy=no-user-gesture-required', '--no-sandbox'],
});
let result = { ok: false, failure: 'did not run' };
try {
  const ctx = await browser.newContext();
  const pg = await ctx.newPage();
  pg.on('console', (m) => console.error(`[console] ${m.type()}: ${m.text()}`));
  pg.on('pageerror', (e) => console.error(`[pageerror] ${e.message}`));
  await pg.route(base + '/__players/**', (route) => {
    const p = new URL(route.request().url()).pathname;
    if (p === '/__players/index.html') return route.fulfill({ contentType: 'text/html', body: page });
    const file = scripts[p];
    if (!file) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(file) });
  });
  await pg.goto(base + '/__players/index.html');
  let stopping = false;
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { stopping = true; });
  const first = {};
  let last = {};
  for (let t = 1; t <= seconds && !stopping; t++) {
    await pg.waitForTimeout(1000);
    last = await pg.evaluate(() => ({
      dash: window.dashSample ? window.dashSample() : undefined,
      hls: window.hlsSample ? window.hlsSample() : undefined,
    }));
    for (const k of ['dash', 'hls']) {
      // played = advanced past its first time, or past where a backwards seek took it
      if (last[k] && last[k].currentTime > 0 && !(last[k].currentTime >= first[k])) first[k] = last[k].currentTime;
    }
    console.log(JSON.stringify({ t, ...last }));
  }
  const failures = [];
  for (const k of ['dash', 'hls']) {
    const s = last[k];
    if (!s) continue;
    if (s.error) failures.push(`${k}: ${s.error}`);
    else if (!(s.currentTime > (first[k] ?? Infinity)) || !(s.decoded > 0)) failures.push(`${k}: did not play`);
  }
  result = { ok: failures.length === 0, failure: failures.join('; ') };
} catch (e) {
  result = { ok: false, failure: String(e) };
} finally {
  await browser.close();
}
console.log(JSON.stringify({ result }));
process.exit(result.ok ? 0 : 1);
