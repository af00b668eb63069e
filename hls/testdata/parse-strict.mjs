// Parses each playlist URL given with npm hls-parser in strict mode (which throws on
// anything RFC 8216bis forbids that it knows of); run by e2e_test.go.
//   node parse-strict.mjs <url>...
// Prints {"result":{ok, errors, parsed}}; exit 0 when every playlist parsed.
import HLS from 'hls-parser';
HLS.setOptions({ strictMode: true });
const errors = [], parsed = [];
for (const url of process.argv.slice(2)) {
  try {
    const r = await fetch(url);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    const pl = HLS.parse(await r.text());
    parsed.push({ url, master: pl.isMasterPlaylist, segments: pl.segments?.length, skip: pl.skip ?? 0 });
  } catch (e) { errors.push(`${url}: ${e.message || e}`); }
}
console.log(JSON.stringify({ result: { ok: errors.length === 0, errors, parsed } }));
process.exit(errors.length === 0 ? 0 : 1);
