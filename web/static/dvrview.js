// dvrview.js: what the watch page's DVR controls (dvr.js) show: the DVR window's range read
// from a media playlist, wall-clock times, the clip's progress and the room's recordings.
import { apiURL, link } from './whx.js';

// parseWindow returns {start, end} (ms since the epoch) of an HLS media playlist whose
// segments all carry EXT-X-PROGRAM-DATE-TIME (the DVR's do): the first segment's date and
// the end of the last one; null when it has no dated segment.
export function parseWindow(text) {
  let start = null;
  let end = null;
  let date = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      date = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length).trim());
    } else if (line.startsWith('#EXTINF:') && Number.isFinite(date)) {
      start ??= date;
      end = date + parseFloat(line.slice('#EXTINF:'.length)) * 1000;
      date = null;
    }
  }
  return start === null ? null : { start, end };
}

// wallClock shows a date (ms) as local time of day, to the second.
export function wallClock(ms) {
  if (!Number.isFinite(ms)) return '–';
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

// serverPath makes a path the server answered (/dvr/...) relative to the page's base.
function serverPath(path) {
  return apiURL(path.replace(/^\//, '')).href;
}

// renderClip shows the clip's status and, once its MP4 is done, its links.
export function renderClip(el, clip) {
  if (!clip) {
    el.replaceChildren();
    return;
  }
  el.dataset.status = clip.status;
  let text = `clip ${clip.status}`;
  if (clip.status === 'running') text += ` ${Math.round((clip.progress || 0) * 100)}%`;
  if (clip.status === 'done' && clip.duration) text += ` · ${clip.duration.toFixed(1)} s`;
  if (clip.status === 'failed' && clip.error) text += `: ${clip.error}`;
  const parts = [text, ' · ', link('playlist', serverPath(clip.playlist))];
  if (clip.status === 'done') parts.push(' · ', link('MP4', serverPath(clip.mp4)));
  el.replaceChildren(...parts);
}

// renderRecordings lists the room's recordings: each plays in the watch page
// (?recording=) and has its stable VOD playlist URL.
export function renderRecordings(list, room, recordings) {
  const items = recordings.map((r) => {
    const li = document.createElement('li');
    li.dataset.id = r.id;
    const watch = apiURL(`watch/${room}`);
    watch.searchParams.set('mode', 'hls');
    watch.searchParams.set('recording', r.id);
    const when = `${new Date(r.start).toLocaleString()} · ${Math.round(r.duration || 0)} s`;
    li.append(
      link(r.live ? `${when} (live)` : when, watch.href),
      ' · ',
      link('playlist', serverPath(r.playlist || `/dvr/recordings/${r.id}/index.m3u8`)),
    );
    return li;
  });
  list.replaceChildren(...items);
}
