// g2g.mjs: glass-to-glass latency against any WHIP / WHEP / LL-HLS server (Glint or a peer),
// measured the same way for each, with Debian's headless Chromium (playwright-core):
//
//   node e2e/g2g.mjs publish <whip-url> [--seconds=N] [--codec=h264] [--size=1280x720] [--kbps=2500]
//   node e2e/g2g.mjs whep    <whep-url> [--seconds=N]
//   node e2e/g2g.mjs hls     <m3u8-url> [--seconds=N] [--level=max|mid|auto]
//
// publish sends a canvas whose top edge carries Date.now() as a barcode (e2e/g2g.html), one
// frame per draw (captureStream(0) + requestFrame: the capture instant is the drawn time); whep
// and hls read the barcode of every frame the page presents (requestVideoFrameCallback) and
// take its expected display time minus the drawn time. The publisher and the viewer must run
// on the same host (one clock). --level picks the hls.js level: max (default: the largest
// picture, then the highest bandwidth: a ladder's source rendition), mid (the middle one of
// that order: a transcoded rung), auto (hls.js's choice).
// --warmup=S leaves the first S seconds of samples out (default 8: start-up, catching up).
//
// Once a second it prints {"t":N, "state":..., "frames":N, "read":N, ...} (an hls viewer adds
// "hls": hls.js's latency, targetLatency, drift, liveSyncPosition, playback rate); at the end
// {"result":{"ok":bool, "failure":"...", "g2g":{"n","p50","p95","max"}, "hls":{"latencyP50",
// "targetLatency", "stalls", "waiting"}}}: stalls counts hls.js's bufferStalledError, waiting
// the element's waiting events once it played. Before the result, an hls viewer prints one
// {"event":...} line per start-up step and stall (playlists loaded, the first appends with
// each SourceBuffer's ranges, the first playing with hls.js's start position, waiting, seeking
// and hls.js's stall errors: bufferStalledError, bufferNudgeOnStall, bufferSeekOverHole),
// each with the playhead, the buffered ranges and hls.js's edge and latency. It exits 0 only
// when a viewer read at least 20 barcodes (a publisher: when it published). G2G_DEBUG=1 in
// the environment turns hls.js's debug log on (stderr, each line with the time in ms modulo
// 100 s).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const usage = 'usage: node g2g.mjs publish|whep|hls <url> [--seconds=N] [--codec=C] [--size=WxH] [--kbps=N] [--level=max|mid|auto] [--warmup=S]';
const [mode, target, ...rest] = process.argv.slice(2);
const opt = { seconds: 20, codec: 'h264', size: '1280x720', kbps: 2500, level: 'max', warmup: 8 };
for (const arg of rest) {
  const m = arg.match(/^--([a-z]+)=(.*)$/);
  if (!m || !(m[1] in opt)) throw new Error(`unknown argument ${arg}\n${usage}`);
  opt[m[1]] = typeof opt[m[1]] === 'number' ? Number(m[2]) : m[2];
}
if (!['publish', 'whep', 'hls'].includes(mode) || !target) throw new Error(usage);
const [width, height] = opt.size.split('x').map(Number);

const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const here = path.dirname(new URL(import.meta.url).pathname);
const hlsJs = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js');

// The page and hls.js come from a server of this script's own on loopback, so that the page
// has an origin (fetch to the media server is then a CORS request, as from any player page).
const files = http.createServer((req, res) => {
  const file = req.url.startsWith('/hls.min.js') ? hlsJs : path.join(here, 'g2g.html');
  res.writeHead(200, { 'Content-Type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((ok) => files.listen(0, '127.0.0.1', ok));
const pageURL = `http://127.0.0.1:${files.address().port}/`;

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'g2g-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required', '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns', '--disable-dev-shm-usage'],
});
let result = { ok: false, failure: 'not started' };
let stop = false;
process.on('SIGTERM', () => { stop = true; });
process.on('SIGINT', () => { stop = true; });
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => process.stderr.write(`[page ${Date.now() % 100000}] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
  await page.goto(pageURL);
  if (process.env.G2G_DEBUG) await page.evaluate(() => { window.G2G_DEBUG = true; });
  if (mode === 'hls') {
    await page.addScriptTag({ url: `${pageURL}hls.min.js` });
    // The playlist exists once the server has its first segment: wait for it (60 s at most).
    for (let i = 0; i < 120 && !stop; i++) {
      const r = await fetch(target).catch(() => null);
      if (r && r.ok) break;
      await new Promise((ok) => setTimeout(ok, 500));
    }
  }
  const o = { width, height, codec: opt.codec, kbps: opt.kbps, level: opt.level };
  await page.evaluate(([m, u, o]) => (m === 'publish' ? publish(u, o) : m === 'whep' ? whep(u) : hls(u, o)), [mode, target, o]);
  let from = 0;
  const hlsLatency = []; // hls.js's own latency (s behind its estimate of the live edge), after the warm-up
  let hlsState;
  for (let t = 1; t <= opt.seconds && !stop; t++) {
    await new Promise((ok) => setTimeout(ok, 1000));
    const s = await page.evaluate(() => {
      const v = document.getElementById('v');
      const b = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
      return { state: g2g.state, frames: g2g.frames, read: g2g.read, unreadable: g2g.unreadable, n: g2g.samples.length,
        error: g2g.error, warning: g2g.warning || '', currentTime: +v.currentTime.toFixed(3), bufferedTo: +b.toFixed(3),
        readyState: v.readyState, paused: v.paused, hls: (() => {
          // hls.js's own view of the live edge (lowLatencyMode): how far behind it plays and aims.
          const h = window.g2gHls;
          if (!h) return undefined;
          const r = (x) => (Number.isFinite(x) ? +x.toFixed(3) : null);
          return { latency: r(h.latency), targetLatency: r(h.targetLatency), drift: r(h.drift),
            liveSyncPosition: r(h.liveSyncPosition), rate: v.playbackRate };
        })(), tracks: window.g2gTracks ? trackRanges() : undefined };
    });
    if (t === opt.warmup) from = s.n;
    if (s.hls) {
      hlsState = s.hls;
      if (t > opt.warmup && s.hls.latency) hlsLatency.push(s.hls.latency);
    }
    print({ t, ...s });
    if (s.error) throw new Error(s.error);
  }
  const s = await page.evaluate(() => g2g);
  if (mode === 'publish') {
    result = { ok: s.state === 'publishing' && s.frames > 0, failure: s.state === 'publishing' ? '' : `state ${s.state}`, frames: s.frames };
  } else {
    const d = s.samples.slice(opt.warmup < opt.seconds ? from : 0).sort((a, b) => a - b);
    const q = (p) => d[Math.min(d.length - 1, Math.ceil(p * d.length) - 1)];
    const ok = d.length >= 20;
    result = { ok, failure: ok ? '' : `only ${d.length} barcodes read (${s.unreadable} unreadable, ${s.frames} frames)`,
      frames: s.frames, unreadable: s.unreadable,
      g2g: d.length ? { n: d.length, p50: q(0.5), p95: q(0.95), max: d[d.length - 1], min: d[0] } : null };
    if (hlsState) {
      // hls.js's view: its latency (p50 of the once-a-second samples) and the target it
      // computed (PART-HOLD-BACK, plus a second per stall it saw); its stalls
      // (bufferStalledError) and the element's waiting events once it played.
      hlsLatency.sort((a, b) => a - b);
      result.hls = { latencyP50: hlsLatency.length ? hlsLatency[Math.floor(hlsLatency.length / 2)] : null,
        targetLatency: hlsState.targetLatency, stalls: s.stalls, waiting: s.waiting };
      for (const e of s.events) print({ event: e });
    }
  }
} catch (e) {
  result = { ok: false, failure: e && e.message ? e.message : String(e) };
} finally {
  print({ result });
  await ctx.close().catch(() => {});
  files.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(result.ok ? 0 : 1);
