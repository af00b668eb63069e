// dvr.js: the watch page's DVR controls, over LL-HLS with hls.js (docs/watch.md, "DVR").
// At the live edge the page plays /hls/{room}/index.m3u8 (low latency); seeking behind it,
// resuming after a pause of more than a few seconds, or "Start over" switch hls.js to the
// DVR's plain-HLS playlists (docs/dvr.md): /dvr/{room}/index.m3u8?t=TIME (the DVR window,
// starting at that wall-clock time) or ?start=over (the recording from its beginning);
// "Live" switches back to /hls/. Times on the seek bar are wall clock, from the playlists'
// EXT-X-PROGRAM-DATE-TIME (hls.js's playingDate, the fragments' programDateTime).
// ?recording={id} plays one recording (/dvr/recordings/{id}/index.m3u8, ?t= for catch-up).
//
// "Clip" marks the last N seconds (POST /api/rooms/{room}/clips {last: N}) and follows the
// clip's MP4 (GET /api/clips/{id}) until it is done. The room's recordings (GET
// /api/recordings?room=) are listed with their links. The state is in window.glintWatch.dvr.
import { withToken } from './token.js';
import { apiURL, authHeaders, errorFrom } from './whx.js';
import { parseWindow, renderClip, renderRecordings, wallClock } from './dvrview.js';

const LIVE_SLACK_MS = 4000; // a seek this close to the live edge goes back to /hls/
const RESUME_FROM_DVR_MS = 3000; // a pause longer than this resumes from the DVR playlist
const WINDOW_EVERY_S = 5; // how often the seek bar's range is read again
const RECORDINGS_EVERY_S = 15;

// noDVR is window.glintWatch.dvr before any sample. Times are ms since the epoch.
export const noDVR = () => ({
  source: 'live', // 'live' (/hls/) | 'dvr' (the DVR window) | 'startover' | 'recording'
  url: null, // what hls.js plays
  recording: null, // ?recording=
  now: null, // Date.now() of the sample
  playingDate: null, // EXT-X-PROGRAM-DATE-TIME of the frame on screen
  behindS: null, // now - playingDate, in seconds
  windowStart: null, // the DVR window (or the recording): its first segment's date
  windowEnd: null, // the end of its last segment
  paused: false,
  pausedAt: null, // the date the viewer paused at
  recordings: [], // GET /api/recordings?room=
  clip: null, // the last clip: GET /api/clips/{id}
  error: null, // the last failed DVR request
});

// DVR drives the controls of the watch page: player() is the HLSPlayer (hlsplayer.js) while
// the page plays LL-HLS, else null; state is window.glintWatch.
export class DVR {
  constructor({ $, room, token, state, player, video }) {
    this.$ = $;
    this.room = room;
    this.token = token;
    this.state = state;
    this.player = player;
    this.video = video;
    this.recording = new URLSearchParams(location.search).get('recording') || null;
    this.catchUp = new URLSearchParams(location.search).get('t') || null;
    this.ticks = 0;
    this.pausedWall = 0; // Date.now() of the pause
    this.dragging = false;
    this.clipTimer = 0;
    state.dvr = Object.assign(noDVR(), { recording: this.recording });
  }

  get s() {
    return this.state.dvr;
  }

  // liveURL is the LL-HLS live edge; dvrURL a DVR playlist with its query (t, start).
  liveURL() {
    return withToken(apiURL(`hls/${this.room}/index.m3u8`), this.token);
  }

  dvrURL(query = {}) {
    const path = this.recording ? `dvr/recordings/${this.recording}/index.m3u8` : `dvr/${this.room}/index.m3u8`;
    const url = withToken(apiURL(path), this.token);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  // initialSource is what LL-HLS playback starts with: the live edge, or ?recording= (at ?t=).
  initialSource() {
    if (!this.recording) return this.source('live', this.liveURL(), true);
    return this.source('recording', this.dvrURL(this.catchUp ? { t: this.catchUp } : {}), false);
  }

  source(name, url, live) {
    Object.assign(this.s, { source: name, url: String(url), paused: false, pausedAt: null });
    return { url, live };
  }

  // play switches the running player to a source; false when LL-HLS does not play (WebRTC).
  play(name, url, live) {
    const p = this.player();
    if (!p || !p.hls) {
      this.s.error = 'the DVR controls work in LL-HLS mode';
      return false;
    }
    this.s.error = null;
    this.source(name, url, live);
    p.setSource(url, { live });
    return true;
  }

  setup() {
    const $ = this.$;
    const seek = $('dvr-seek');
    seek.addEventListener('input', () => {
      this.dragging = true;
      $('dvr-at').textContent = wallClock(this.s.windowStart + seek.valueAsNumber * 1000);
    });
    seek.addEventListener('change', () => {
      this.dragging = false;
      this.seekTo(this.s.windowStart + seek.valueAsNumber * 1000);
    });
    $('dvr-pause').addEventListener('click', () => this.togglePause());
    $('dvr-live').addEventListener('click', () => this.goLive());
    $('dvr-start-over').addEventListener('click', () => this.startOver());
    $('dvr-clip').addEventListener('click', () => this.clip());
    this.refreshWindow();
    this.refreshRecordings();
  }

  goLive() {
    if (this.play('live', this.liveURL(), true)) this.video.play().catch(() => {});
  }

  startOver() {
    this.play('startover', this.dvrURL(this.recording ? {} : { start: 'over' }), false);
  }

  // seekTo plays from the wall-clock time date: the live edge when it is near it, a seek in
  // the DVR playlist when that holds date, else the DVR playlist loaded at ?t=date.
  seekTo(date) {
    const { windowStart, windowEnd } = this.s;
    if (windowStart === null) return;
    if (!this.recording && date >= this.liveEdge() - LIVE_SLACK_MS) {
      this.goLive();
      return;
    }
    const target = Math.min(Math.max(date, windowStart), windowEnd - 1000);
    const position = this.s.source === 'live' ? null : positionOf(this.player(), target);
    if (position !== null) {
      this.video.currentTime = position;
      return;
    }
    const name = this.recording ? 'recording' : 'dvr';
    this.play(name, this.dvrURL({ t: new Date(target).toISOString() }), false);
  }

  // togglePause pauses, or resumes where the viewer paused: from the DVR playlist when the
  // pause at the live edge lasted longer than RESUME_FROM_DVR_MS (the LL-HLS window moved on).
  togglePause() {
    const v = this.video;
    if (!v.paused) {
      this.s.pausedAt = this.s.playingDate;
      this.pausedWall = Date.now();
      v.pause();
      return;
    }
    const at = this.s.pausedAt;
    if (this.s.source === 'live' && at && Date.now() - this.pausedWall > RESUME_FROM_DVR_MS) {
      this.play('dvr', this.dvrURL({ t: new Date(at).toISOString() }), false);
    }
    this.s.pausedAt = null;
    v.play().catch(() => {});
  }

  // clip asks for the last N seconds and follows the clip until its MP4 is done or failed.
  async clip() {
    const seconds = Math.round(Number(this.$('clip-seconds').value));
    if (!(seconds >= 1)) {
      this.s.error = 'clip length: a whole number of seconds, at least 1';
      return;
    }
    const body = { last: seconds };
    if (this.recording) body.recording = this.recording;
    try {
      const res = await fetch(apiURL(`api/rooms/${this.room}/clips`), {
        method: 'POST',
        headers: authHeaders(this.token, { 'Content-Type': 'application/json' }),
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw await errorFrom(res);
      this.s.clip = await res.json();
      this.s.error = null;
      this.followClip(this.s.clip.id);
    } catch (err) {
      this.s.error = `clip: ${err.message}`;
    }
  }

  followClip(id) {
    clearTimeout(this.clipTimer);
    const poll = async () => {
      if (!this.s.clip || this.s.clip.id !== id) return;
      try {
        const res = await fetch(apiURL(`api/clips/${id}`), { cache: 'no-store', headers: authHeaders(this.token) });
        if (!res.ok) throw await errorFrom(res);
        const c = await res.json();
        if (this.s.clip && this.s.clip.id === id) this.s.clip = c;
        if (c.status === 'done' || c.status === 'failed') return;
      } catch (err) {
        this.s.error = `clip: ${err.message}`;
      }
      this.clipTimer = setTimeout(poll, 1000);
    };
    this.clipTimer = setTimeout(poll, 500);
  }

  // refreshWindow reads the seek bar's range from the DVR's media playlist (its first
  // EXT-X-PROGRAM-DATE-TIME to the end of its last segment).
  async refreshWindow() {
    try {
      const multivariant = this.dvrURL();
      let res = await fetch(multivariant, { cache: 'no-store' });
      if (!res.ok) throw new Error(`DVR window: HTTP ${res.status}`);
      const text = await res.text();
      const uri = text.split('\n').find((l) => l.trim() && !l.startsWith('#'));
      if (!uri) throw new Error('DVR window: no media playlist');
      res = await fetch(new URL(uri.trim(), multivariant), { cache: 'no-store' });
      if (!res.ok) throw new Error(`DVR window: HTTP ${res.status}`);
      const w = parseWindow(await res.text());
      if (w) Object.assign(this.s, { windowStart: w.start, windowEnd: w.end });
    } catch (err) {
      this.s.windowStart = this.s.windowEnd = null; // not recorded (yet)
      if (this.s.source !== 'live') this.s.error = err.message;
    }
  }

  async refreshRecordings() {
    try {
      const res = await fetch(apiURL(`api/recordings?room=${this.room}`), { cache: 'no-store', headers: authHeaders(this.token) });
      if (!res.ok) throw new Error(`recordings: HTTP ${res.status}`);
      this.s.recordings = await res.json();
    } catch {
      this.s.recordings = [];
    }
    renderRecordings(this.$('recordings'), this.room, this.s.recordings);
  }

  // liveEdge is the newest date the room has: the live edge while it plays /hls/, else the
  // DVR window's end.
  liveEdge() {
    return Math.max(this.s.windowEnd ?? 0, this.s.source === 'live' ? (this.s.playingDate ?? 0) : 0);
  }

  // sample runs once a second (watch.js): it updates window.glintWatch.dvr.
  sample() {
    const p = this.player();
    const date = p && p.hls ? p.playingDate() : null;
    const now = Date.now();
    Object.assign(this.s, {
      now,
      playingDate: date ? date.getTime() : null,
      behindS: date ? Math.round(now - date.getTime()) / 1000 : null,
      paused: this.video.paused,
    });
    this.ticks++;
    if (this.ticks % WINDOW_EVERY_S === 0) this.refreshWindow();
    if (this.ticks % RECORDINGS_EVERY_S === 0) this.refreshRecordings();
  }

  render() {
    const $ = this.$;
    const s = this.s;
    const p = this.player();
    const usable = !!(p && p.hls) && s.windowStart !== null;
    $('dvr').dataset.source = s.source;
    const seek = $('dvr-seek');
    seek.disabled = !usable;
    $('dvr-live').disabled = !(p && p.hls) || this.recording !== null;
    $('dvr-start-over').disabled = !usable;
    $('dvr-pause').textContent = this.video.paused ? 'Resume' : 'Pause';
    if (usable && !this.dragging) {
      const end = this.recording ? s.windowEnd : Math.max(s.windowEnd, s.now ?? 0);
      seek.max = String(Math.max(1, Math.round((end - s.windowStart) / 1000)));
      // At the live edge the thumb sits at the end: dragging it N s back plays N s behind now.
      const atEdge = s.source === 'live' && !s.paused;
      seek.value = s.playingDate && !atEdge ? String(Math.round((s.playingDate - s.windowStart) / 1000)) : seek.max;
      $('dvr-start').textContent = wallClock(s.windowStart);
      $('dvr-end').textContent = this.recording ? wallClock(s.windowEnd) : 'live';
      $('dvr-at').textContent = s.playingDate ? wallClock(s.playingDate) : '–';
    }
    const where = { live: 'live', dvr: 'DVR', startover: 'from the start', recording: 'recording' }[s.source];
    const behind = s.behindS !== null && s.source !== 'live' ? ` · ${Math.round(s.behindS)} s behind live` : '';
    $('dvr-where').textContent = where + (this.recording ? '' : behind);
    $('dvr-error').textContent = s.error || '';
    renderClip($('clip-status'), s.clip);
  }
}

// positionOf maps a wall-clock date to hls.js's media time through the loaded playlist's
// fragments (their programDateTime); null when the playlist does not hold it.
function positionOf(player, date) {
  const hls = player && player.hls;
  if (!hls || !hls.levels) return null;
  const level = hls.levels[hls.currentLevel] || hls.levels.find((l) => l.details);
  const fragments = (level && level.details && level.details.fragments) || [];
  for (const f of fragments) {
    const pdt = f.programDateTime;
    if (pdt && pdt <= date && date < pdt + f.duration * 1000) return f.start + (date - pdt) / 1000;
  }
  return null;
}
