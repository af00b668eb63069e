#!/usr/bin/env node
// m3u8check.mjs: fetches a media playlist and parses it with hls-parser in strict mode (a
// playlist that breaks a rule of RFC 8216 throws), for the e2e tests. Prints one JSON line:
// {"segments":[{"uri","pdt","duration","dateRange":{"id","classId","start"}|null}]}, each
// segment with the EXT-X-DATERANGE listed before it.
//
//   node e2e/m3u8check.mjs URL
import HLS from 'hls-parser';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node m3u8check.mjs URL');
  process.exit(2);
}
HLS.setOptions({ strictMode: true });
const res = await fetch(url);
if (!res.ok) {
  console.error(`GET ${url}: ${res.status} ${await res.text()}`);
  process.exit(1);
}
const playlist = HLS.parse(await res.text());
if (playlist.isMasterPlaylist) {
  console.error(`${url} is a multivariant playlist, want a media playlist`);
  process.exit(1);
}
const iso = (d) => (d ? d.toISOString() : null);
console.log(JSON.stringify({
  segments: playlist.segments.map((s) => ({
    uri: s.uri, pdt: iso(s.programDateTime), duration: s.duration,
    dateRange: s.dateRange ? { id: s.dateRange.id, classId: s.dateRange.classId, start: iso(s.dateRange.start) } : null,
  })),
}));
