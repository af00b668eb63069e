#!/usr/bin/env node
// browser.mjs: drives Debian's headless Chromium (through playwright-core) on Glint's own pages,
// as a real publisher or viewer, for the e2e tests (e2e_test.go) and for trying a server by hand.
//
//   node e2e/browser.mjs publish http://127.0.0.1:8080/publish/ROOM [--seconds=N] [--query=codec=h264]
//   node e2e/browser.mjs watch   http://127.0.0.1:8080/watch/ROOM   [--seconds=N] [--screenshot=out.png]
//
// --seconds=N   how long to keep the page open (default 10); SIGTERM or SIGINT ends it earlier,
//               still printing the result.
// --query=Q     appended to the page URL's query, e.g. --query='codec=vp8&simulcast=0&minKbps=1500'
//               (repeatable).
// --screenshot=PATH  saves the page (the preview or the decoded video) before leaving it.
//
// Once per second it prints one JSON line {"t":N, ...state}, where state is the page's own
// window.glintPublish or window.glintWatch (web/static/publish.js, watch.js). It ends with
// {"result":{"ok":bool, "failure":"why not ok", ...last state}} and exits 0 only when media
// really flowed: publish = live and every outbound video encoding has framesEncoded > 0;
// watch = framesDecoded > 0 and frameWidth > 0. Leaving the page (about:blank) makes the page
// DELETE its WHIP/WHEP session, as a user closing the tab would.
//
// stderr gets the browser console, page errors and failed requests (prefixed), for test logs.
// Env: CHROMIUM = the browser binary (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const usage = 'usage: node browser.mjs publish|watch <page-url> [--seconds=N] [--query=Q] [--screenshot=PATH]';

function parseArgs(argv) {
  const [mode, pageURL, ...rest] = argv;
  const opt = { seconds: 10, query: [], screenshot: '' };
  for (const arg of rest) {
    const m = arg.match(/^--([a-z-]+)(?:=(.*))?$/s);
    if (!m) throw new Error(`unknown argument ${JSON.stringify(arg)}\n${usage}`);
    const [, key, value = ''] = m; // split at the first '=' only: --query=codec=h264
    if (key === 'seconds') opt.seconds = Number(value);
    else if (key === 'query') opt.query.push(value);
    else if (key === 'screenshot') opt.screenshot = value;
    else throw new Error(`unknown option --${key}\n${usage}`);
  }
  if (mode !== 'publish' && mode !== 'watch') throw new Error(usage);
  if (!pageURL) throw new Error(usage);
  if (!(opt.seconds > 0)) throw new Error('--seconds must be a positive number');
  const url = new URL(pageURL);
  for (const q of opt.query) {
    for (const [k, v] of new URLSearchParams(q)) url.searchParams.set(k, v);
  }
  return { mode, url: url.href, ...opt };
}

const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const log = (...args) => process.stderr.write(`${args.join(' ')}\n`);

// mediaFlowed says whether the page's state shows real media, and why not.
function mediaFlowed(mode, s) {
  if (!s) return 'the page never exposed its state';
  if (mode === 'publish') {
    if (s.state !== 'live') return `publisher state is ${s.state}${s.error ? ` (${s.error})` : ''}`;
    if (!s.outbound || s.outbound.length === 0) return 'no outbound video encoding';
    const idle = s.outbound.filter((o) => !(o.framesEncoded > 0)).map((o) => o.rid ?? 'single');
    return idle.length ? `encodings without frames: ${idle.join(', ')}` : '';
  }
  if (!(s.video && s.video.framesDecoded > 0)) {
    return `no video frame decoded (state ${s.state}${s.error ? `: ${s.error}` : ''})`;
  }
  if (!(s.video.frameWidth > 0)) return 'frameWidth is 0';
  return '';
}

// CLIENTS.md section 2: the flags that make Chromium a headless, loopback-only WebRTC client
// with a fake camera and microphone.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream=fps=30', // the fake camera's default is 20 fps
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection', // host candidates on 127.0.0.1
  '--disable-features=WebRtcHideLocalIpsWithMdns', // no .local mDNS candidates
  '--disable-dev-shm-usage',
];

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const global = opt.mode === 'publish' ? 'glintPublish' : 'glintWatch';
  let stopping = false;
  let wake = () => {};
  const stop = (sig) => {
    log(`[browser.mjs] ${sig}: finishing`);
    stopping = true;
    wake();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Never hang: whatever happens, give up well after the planned end.
  const deadline = setTimeout(() => {
    print({ result: { ok: false, failure: 'browser.mjs hard deadline passed' } });
    process.exit(2);
  }, (opt.seconds + 60) * 1000);
  deadline.unref();

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'glint-e2e-chromium-'));
  let ctx = null;
  let last = null;
  let failure = '';
  let samples = 0;
  try {
    ctx = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      // SIGTERM/SIGINT end the run (above); Playwright must not close the browser under us.
      handleSIGTERM: false,
      handleSIGINT: false,
      handleSIGHUP: false,
      viewport: { width: 960, height: 720 },
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on('console', (m) => log(`[page ${m.type()}]`, m.text()));
    page.on('pageerror', (e) => log('[page exception]', e.message));
    page.on('requestfailed', (r) => log('[request failed]', r.method(), r.url(), r.failure()?.errorText ?? ''));
    page.on('response', (r) => {
      if (r.status() >= 400) log('[response]', r.status(), r.request().method(), r.url());
    });
    const res = await page.goto(opt.url, { waitUntil: 'load', timeout: 15000 });
    if (!res || !res.ok()) throw new Error(`GET ${opt.url}: HTTP ${res ? res.status() : 'no response'}`);

    for (let t = 1; t <= opt.seconds && !stopping; t++) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      const s = await page.evaluate((g) => (window[g] ? JSON.parse(JSON.stringify(window[g])) : null), global);
      if (s) {
        last = s;
        samples++;
      }
      print({ t, ...(s ?? { state: null }) });
    }
    failure = mediaFlowed(opt.mode, last);
    if (opt.screenshot) await page.screenshot({ path: opt.screenshot });
    // Leave the page: its pagehide handler DELETEs the session (keepalive fetch).
    await page.goto('about:blank', { timeout: 5000 }).catch((e) => log('[browser.mjs] leaving the page:', e.message));
    await new Promise((r) => setTimeout(r, 300));
  } catch (e) {
    failure = `browser.mjs: ${e && e.message ? e.message : e}`;
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  const ok = failure === '';
  print({ result: { ok, failure, mode: opt.mode, url: opt.url, samples, ...(last ?? {}) } });
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  print({ result: { ok: false, failure: `browser.mjs: ${e && e.message ? e.message : e}` } });
  process.exit(2);
});
