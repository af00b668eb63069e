// Copied from the project's shared client helpers (clients/llhls-check.mjs); run by e2e_test.go
// with node_modules from e2e/ (hls-parser, pinned in e2e/package.json).
// LL-HLS playlist checker (spec-level checks + blocking-reload timing), using npm hls-parser in strict mode.
//   node llhls-check.mjs <multivariant-or-media-playlist-url> [--seconds=10]
// Prints {"result":{ok, errors, warnings, stats}}; exit 0 when no errors.
import HLS from 'hls-parser';
HLS.setOptions({ strictMode: true });            // throws on malformed tags/attributes
const url = process.argv[2];
const seconds = Number((process.argv.find(a => a.startsWith('--seconds=')) || '=10').split('=')[1]);
const errors = [], warnings = [], stats = { reloads: 0, maxBlockMs: 0, partsSeen: 0 };
const get = async u => { const t0 = performance.now(); const r = await fetch(u);
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text(), ms: performance.now() - t0 }; };
const withQuery = (u, q) => u + (u.includes('?') ? '&' : '?') + q;
const parse = (r, what) => {
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status}`);
  if (!/mpegurl/i.test(r.type || '')) warnings.push(`${what}: Content-Type ${r.type}`);
  return HLS.parse(r.body);
};
function check(pl) {                            // static rules of RFC 8216bis for LL-HLS
  const pt = pl.partTargetDuration, llc = pl.lowLatencyCompatibility || {};
  if (!pt) { errors.push('no EXT-X-PART-INF'); return; }
  if (!llc.canBlockReload) errors.push('EXT-X-SERVER-CONTROL lacks CAN-BLOCK-RELOAD=YES');
  if (!(llc.partHoldBack >= 2 * pt)) errors.push(`PART-HOLD-BACK ${llc.partHoldBack} < 2 x PART-TARGET ${pt}`);
  else if (llc.partHoldBack < 3 * pt) warnings.push(`PART-HOLD-BACK ${llc.partHoldBack} < 3 x PART-TARGET (recommended)`);
  for (const s of pl.segments) {
    if (s.uri && Math.round(s.duration) > pl.targetDuration) errors.push(`segment ${s.mediaSequenceNumber} ${s.duration}s > TARGETDURATION`);
    for (const p of s.parts || []) if (!p.hint && p.duration > pt * 1.001) errors.push(`part ${p.uri} ${p.duration}s > PART-TARGET ${pt}`);
  }
  const last = pl.segments.at(-1);
  if (!(last.parts || []).some(p => p.hint) && !pl.prefetchSegments.length) warnings.push('no EXT-X-PRELOAD-HINT');
}
let mediaUrl = url, r = await get(url), pl;
try {
  pl = parse(r, 'playlist');
  if (pl.isMasterPlaylist) { mediaUrl = new URL(pl.variants[0].uri, url).href; pl = parse(await get(mediaUrl), 'media playlist'); }
  check(pl);
  if (pl.partTargetDuration && pl.lowLatencyCompatibility?.canBlockReload) {
    const end = Date.now() + seconds * 1000;
    let lastMsn = -1;
    while (Date.now() < end && errors.length < 20) {
      const seg = pl.segments.at(-1);                           // in-progress segment (its parts so far)
      const done = (seg.parts || []).filter(p => !p.hint).length;
      const [msn, part] = seg.uri ? [seg.mediaSequenceNumber + 1, 0] : [seg.mediaSequenceNumber, done];
      const rr = await get(withQuery(mediaUrl, `_HLS_msn=${msn}&_HLS_part=${part}`));
      stats.reloads++; stats.maxBlockMs = Math.max(stats.maxBlockMs, Math.round(rr.ms));
      if (rr.ms > 3000 * Math.max(pl.targetDuration, 1)) errors.push(`blocking reload took ${Math.round(rr.ms)} ms`);
      const next = parse(rr, 'blocking reload');
      const has = next.segments.find(s => s.mediaSequenceNumber === msn);
      if (!has || (has.parts || []).filter(p => !p.hint).length < part + 1 && !has.uri)
        errors.push(`blocking reload for msn=${msn} part=${part} returned without it`);
      if (next.mediaSequenceBase < lastMsn) errors.push('EXT-X-MEDIA-SEQUENCE went backwards');
      lastMsn = next.mediaSequenceBase; stats.partsSeen++;
      check(next); pl = next;
    }
    const lastPart = pl.segments.flatMap(s => s.parts || []).filter(p => !p.hint).at(-1);
    if (lastPart) { const pr = await fetch(new URL(lastPart.uri, mediaUrl)); stats.lastPartBytes = (await pr.arrayBuffer()).byteLength;
                    if (pr.status !== 200 || !stats.lastPartBytes) errors.push(`part ${lastPart.uri}: HTTP ${pr.status}`); }
  }
  stats.targetDuration = pl.targetDuration; stats.partTarget = pl.partTargetDuration;
  stats.partHoldBack = pl.lowLatencyCompatibility?.partHoldBack;
} catch (e) { errors.push(String(e.message || e)); }
const ok = errors.length === 0;
console.log(JSON.stringify({ result: { ok, mediaUrl, errors: [...new Set(errors)], warnings: [...new Set(warnings)], stats } }));
process.exit(ok ? 0 : 1);
