#!/usr/bin/env node
// browser.mjs: drives Debian's headless Chromium (through playwright-core) on Glint's own pages,
// as a real publisher or viewer, for the e2e tests (e2e_test.go) and for trying a server by hand.
//
//   node e2e/browser.mjs publish http://127.0.0.1:8080/publish/ROOM [--seconds=N] [--query=codec=h264]
//   node e2e/browser.mjs watch   http://127.0.0.1:8080/watch/ROOM   [--seconds=N] [--screenshot=out.png]
//                                [--query=quality=l] [--quality-after=SECONDS:VALUE]
//                                [--query=mode=hls] [--init-script=PATH] [--not-found=PATH]
//
// --seconds=N   how long to keep the page open (default 10); SIGTERM or SIGINT ends it earlier,
//               still printing the result.
// --query=Q     appended to the page URL's query, e.g. --query='codec=vp8&simulcast=0&minKbps=1500'
//               (repeatable).
// --screenshot=PATH  saves the page (the preview or the decoded video) before leaving it.
// --quality-after=SECONDS:VALUE  (watch) picks VALUE (auto, h, m or l) in the page's quality menu
//               once SECONDS have passed, as a user would (repeatable).
// --init-script=PATH  runs the JavaScript file PATH in the page before its own scripts
//               (Playwright addInitScript), e.g. to break WebRTC and see the page fall back.
// --not-found=PATH  answers 404 to the page's requests for the URL path PATH (repeatable), as a
//               server without that file would, e.g. --not-found=/static/vendor/hls.min.js.
//
// In watch mode, stdin takes commands, one a line, run as soon as they come (once the page has
// loaded): "quality VALUE" picks VALUE in the quality menu now (for tests that switch once the
// page has reached a state); "mode VALUE" picks auto, webrtc or hls in the mode menu; "click ID"
// clicks the element #ID (e.g. the DVR's dvr-pause, dvr-live, dvr-start-over, dvr-clip);
// "seek-back SECONDS" drags the DVR seek bar that many seconds back. Each command run prints {"command":"...", "at":t} with t the last
// sample's (no "t" field: it is not a sample); a failed one adds "error" and fails the run.
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
import readline from 'node:readline';

const usage =
  'usage: node browser.mjs publish|watch <page-url> [--seconds=N] [--query=Q] [--screenshot=PATH] [--quality-after=S:VALUE] [--init-script=PATH] [--not-found=PATH]';
const QUALITIES = ['auto', 'h', 'm', 'l'];
const MODES = ['auto', 'webrtc', 'hls'];

function parseArgs(argv) {
  const [mode, pageURL, ...rest] = argv;
  const opt = { seconds: 10, query: [], screenshot: '', qualityAfter: [], initScript: '', notFound: [] };
  for (const arg of rest) {
    const m = arg.match(/^--([a-z-]+)(?:=(.*))?$/s);
    if (!m) throw new Error(`unknown argument ${JSON.stringify(arg)}\n${usage}`);
    const [, key, value = ''] = m; // split at the first '=' only: --query=codec=h264
    if (key === 'seconds') opt.seconds = Number(value);
    else if (key === 'query') opt.query.push(value);
    else if (key === 'screenshot') opt.screenshot = value;
    else if (key === 'init-script') opt.initScript = value;
    else if (key === 'not-found') opt.notFound.push(value);
    else if (key === 'quality-after') {
      const q = value.match(/^(\d+(?:\.\d+)?):(\w+)$/);
      if (!q || !QUALITIES.includes(q[2])) throw new Error(`--quality-after=SECONDS:VALUE with VALUE one of ${QUALITIES}`);
      opt.qualityAfter.push({ at: Number(q[1]), value: q[2] });
    } else throw new Error(`unknown option --${key}\n${usage}`);
  }
  if (mode !== 'publish' && mode !== 'watch') throw new Error(usage);
  if (!pageURL) throw new Error(usage);
  if (!(opt.seconds > 0)) throw new Error('--seconds must be a positive number');
  if (opt.qualityAfter.length && mode !== 'watch') throw new Error('--quality-after is for watch pages');
  const url = new URL(pageURL);
  for (const q of opt.query) {
    for (const [k, v] of new URLSearchParams(q)) url.searchParams.set(k, v);
  }
  return { mode, url: url.href, ...opt };
}

const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const log = (...args) => process.stderr.write(`${args.join(' ')}\n`);

// commander runs watch-page commands one after the other, as soon as the page is there.
function commander() {
  let chain = Promise.resolve();
  let page = null;
  const early = []; // commands that came before the page
  const c = { at: 0, failed: '' };
  const run = (command) => {
    chain = chain.then(async () => {
      try {
        await runCommand(page, command);
        print({ command, at: c.at });
      } catch (e) {
        const error = e && e.message ? e.message : String(e);
        log(`[browser.mjs] command ${JSON.stringify(command)}: ${error}`);
        print({ command, at: c.at, error });
        c.failed ||= `command ${JSON.stringify(command)}: ${error}`;
      }
    });
  };
  c.push = (command) => (page ? run(command) : early.push(command));
  c.start = (p) => {
    page = p;
    early.splice(0).forEach(run);
  };
  c.settle = () => chain;
  return c;
}

// readCommands passes stdin lines to commands; stdin at EOF or a TTY passes nothing.
function readCommands(commands) {
  if (process.stdin.isTTY) return;
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim()) commands.push(line.trim());
  });
  rl.on('error', () => {});
}

// runCommand runs one command on the watch page; it throws on an unknown command.
async function runCommand(page, line) {
  const [name, value] = line.split(/\s+/);
  if (name === 'quality' && QUALITIES.includes(value)) {
    // The menu as a user would use it: selectOption fires input and change.
    await page.selectOption('#quality', value);
    return;
  }
  if (name === 'mode' && MODES.includes(value)) {
    await page.selectOption('#mode', value);
    return;
  }
  if (name === 'click' && /^[a-z][a-z-]*$/.test(value || '')) {
    await page.click(`#${value}`, { timeout: 5000 });
    return;
  }
  if (name === 'seek-back' && Number(value) > 0) {
    // The DVR seek bar dragged back by that many seconds, as a user would: input, then change.
    await page.$eval('#dvr-seek', (el, s) => {
      if (el.disabled) throw new Error('the DVR seek bar is disabled');
      el.value = String(el.valueAsNumber - s);
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, Number(value));
    return;
  }
  throw new Error(
    `unknown command ${JSON.stringify(line)} (want "quality auto|h|m|l", "mode auto|webrtc|hls", "click ID" or "seek-back SECONDS")`,
  );
}

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
  const commands = commander();
  if (opt.mode === 'watch') readCommands(commands);
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
    if (opt.initScript) await ctx.addInitScript({ path: opt.initScript });
    for (const p of opt.notFound) {
      await ctx.route((u) => u.pathname === p, (route) => route.fulfill({ status: 404, body: '404 not found\n' }));
    }
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.on('console', (m) => log(`[page ${m.type()}]`, m.text()));
    page.on('pageerror', (e) => log('[page exception]', e.message));
    page.on('requestfailed', (r) => log('[request failed]', r.method(), r.url(), r.failure()?.errorText ?? ''));
    page.on('response', (r) => {
      if (r.status() >= 400) log('[response]', r.status(), r.request().method(), r.url());
    });
    const res = await page.goto(opt.url, { waitUntil: 'load', timeout: 15000 });
    if (!res || !res.ok()) throw new Error(`GET ${opt.url}: HTTP ${res ? res.status() : 'no response'}`);
    commands.start(page);

    for (let t = 1; t <= opt.seconds && !stopping; t++) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      for (const q of opt.qualityAfter) {
        if (!q.done && t >= q.at) {
          q.done = true;
          commands.push(`quality ${q.value}`);
        }
      }
      await commands.settle(); // a command picked now shows in this sample
      const s = await page.evaluate((g) => (window[g] ? JSON.parse(JSON.stringify(window[g])) : null), global);
      if (s) {
        last = s;
        samples++;
      }
      print({ t, ...(s ?? { state: null }) });
      commands.at = t;
    }
    await commands.settle();
    failure = mediaFlowed(opt.mode, last) || commands.failed;
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
