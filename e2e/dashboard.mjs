#!/usr/bin/env node
// dashboard.mjs: opens Glint's /dashboard in Debian's headless Chromium (playwright-core) and
// waits until it lists ROOM and its bitrate plot has a line of at least two points.
//
//   node e2e/dashboard.mjs http://127.0.0.1:8080/dashboard ROOM [--seconds=N]
//
// Prints {"result":{"ok":bool,"failure":"...","row":"the room's row text","points":N}} and exits
// 0 only when ok. stderr gets the browser console and page errors. Env: CHROMIUM (default
// /usr/bin/chromium).
import { chromium } from 'playwright-core';

const [pageURL, room, ...rest] = process.argv.slice(2);
let seconds = 30;
for (const arg of rest) {
  const m = arg.match(/^--seconds=(\d+)$/);
  if (!m) {
    console.error(`unknown argument ${arg}`);
    process.exit(2);
  }
  seconds = Number(m[1]);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
const result = { ok: false, failure: '', row: '', points: 0 };
try {
  const page = await browser.newPage();
  page.on('console', (msg) => console.error(`console.${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (err) => console.error(`pageerror: ${err.message}`));
  const res = await page.goto(pageURL);
  if (!res || !res.ok()) throw new Error(`GET ${pageURL}: ${res ? res.status() : 'no response'}`);
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const state = await page.evaluate((name) => {
      const row = [...document.querySelectorAll('#rooms tr')].find((tr) => tr.dataset.room === name);
      const lines = [...document.querySelectorAll('#plot-bitrate polyline')];
      const points = Math.max(0, ...lines.map((l) => (l.getAttribute('points') || '').trim().split(/\s+/).filter(Boolean).length));
      return { row: row ? row.textContent : '', points, message: document.getElementById('dash-message').textContent };
    }, room);
    Object.assign(result, { row: state.row, points: state.points });
    if (state.row && state.points >= 2) {
      result.ok = true;
      break;
    }
    result.failure = `room row ${state.row ? 'shown' : 'missing'}, bitrate plot ${state.points} points (${state.message})`;
    await page.waitForTimeout(500);
  }
  if (result.ok) result.failure = '';
} catch (err) {
  result.failure = String(err && err.message ? err.message : err);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ result }));
process.exit(result.ok ? 0 : 1);
