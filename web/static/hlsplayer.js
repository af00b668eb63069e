// hlsplayer.js: the watch page's LL-HLS player, used when WebRTC fails or when the viewer picks
// it (watch.js). It plays /hls/{room}/index.m3u8 (the multivariant playlist) with hls.js in
// low-latency mode, or natively where the browser plays HLS itself and has no Media Source
// Extensions (Safari on iPhone). hls.js is not committed: `make web` copies it from npm into
// static/vendor/ and the binary embeds it; a binary built without it says so ("run make").
//
// The source can change while it plays (setSource): the DVR controls (dvr.js) switch between
// the LL-HLS live edge and the DVR's plain-HLS playlists (docs/dvr.md); the live edge plays in
// low-latency mode, the DVR playlists at normal speed from where the viewer seeks.
//
// Its state (watch.js puts it in window.glintWatch.hls) is sampled once a second:
//   latency        hls.latency: seconds behind the live edge of the playlist
//   glassToGlassMs Date.now() - hls.playingDate: the EXT-X-PROGRAM-DATE-TIME of the frame on
//                  screen, in ms. The server stamps a frame's arrival there, or its capture
//                  time when the publisher sends Glint's capture-time SEI (glint loadtest).
//   bufferS, level {index, width, height, bitrate}, levels, auto (adaptive switching on)
//   recoveries     how often the no-progress watchdog restarted playback
//
// The no-progress watchdog: hls.js recreates nothing after an error it deems non-fatal, and
// once sat for minutes on a level playlist error without retrying. So while the viewer has
// not paused (or nothing of the source has played yet), a playhead that has not moved for
// STALL_S seconds gets hls.js's own recovery (its loaders restarted at the live edge and the
// media re-attached); if it still does not move, a new hls.js instance on the same source;
// each further try of the same stall waits twice as long, up to STALL_MAX_S. Progress
// resets it.
import { base } from './whx.js';

const PLAYER_URL = new URL('static/vendor/hls.min.js', base);
const HLS_TYPE = 'application/vnd.apple.mpegurl';
// LIVE_SYNC_SLACK: how far (s) behind hls.js's live sync position the playhead may be before
// joinLiveSync moves it there.
const LIVE_SYNC_SLACK = 0.2;
const STALL_S = 6;
const STALL_MAX_S = 60;

// noHLS is window.glintWatch.hls before (or without) LL-HLS playback.
export const noHLS = () => ({
  engine: null, // 'hls.js' | 'native'
  url: null,
  currentTime: 0,
  latency: null,
  targetLatency: null,
  glassToGlassMs: null,
  bufferS: null,
  playbackRate: 1,
  level: null, // {index, width, height, bitrate}
  levels: 0,
  auto: true,
  lowLatency: null, // the media playlist has EXT-X-PART
  error: null, // the last hls.js error, 'type/details'
  recoveries: 0, // restarts by the no-progress watchdog
});

// usesNativeHLS: no MSE but HLS in <video> (Safari on iPhone): hls.js cannot run there.
export function usesNativeHLS(video) {
  const mse = 'MediaSource' in window || 'ManagedMediaSource' in window;
  return !mse && video.canPlayType(HLS_TYPE) !== '';
}

let loading = null;

// loadHlsJs adds hls.min.js to the page once; it rejects with a message for the viewer when
// the server was built without it.
export function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = PLAYER_URL.href;
    script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.min.js did not define Hls')));
    script.onerror = () => {
      loading = null;
      script.remove();
      reject(new Error('the LL-HLS player is not built into this server (run make to build it)'));
    };
    document.head.append(script);
  });
  return loading;
}

// HLSPlayer plays url into video and keeps state.hls and state.video current. onChange(s, error)
// reports 'connecting' | 'live' | 'waiting' | 'error'.
export class HLSPlayer {
  constructor({ video, url, state, onChange }) {
    this.video = video;
    this.url = url;
    this.state = state;
    this.onChange = onChange;
    this.hls = null;
    this.quality = 'auto';
    this.stopped = false;
    this.retryTimer = 0;
    this.bytes = 0; // fragment and part bytes loaded
    this.prev = null; // previous sample, for rates
    this.live = true; // the source is the LL-HLS live edge (not a DVR playlist)
    this.Hls = null; // the hls.js class, once loaded
    this.fragPlaying = false; // the current hls.js instance plays a fragment of its source
    this.watchTimer = 0;
    this.progress = { time: -1, at: 0 }; // the playhead when it last moved (performance.now())
    this.stallWait = STALL_S; // seconds without progress before the next recovery
    this.stallTries = 0; // recoveries of the current stall
  }

  // playingDate is the EXT-X-PROGRAM-DATE-TIME of the frame on screen (a Date), or null. After
  // a change of source it stays null until a fragment of the new source plays: until then
  // hls.js may still date the previous source's last frame.
  playingDate() {
    if (this.hls) return this.fragPlaying ? this.hls.playingDate : null;
    return this.state.hls.engine === 'native' ? nativeDate(this.video) : null;
  }

  // setSource plays url instead of the current source, in a new hls.js instance: live = the
  // LL-HLS live edge (low-latency mode, catching up with the edge), otherwise a DVR playlist
  // (played at normal speed from its EXT-X-START). Only for hls.js playback.
  setSource(url, { live }) {
    this.url = url;
    this.live = live;
    this.state.hls.url = String(url);
    if (!this.Hls || this.stopped) return;
    clearTimeout(this.retryTimer);
    this.destroy();
    this.create(this.Hls);
  }

  // start plays with the given quality ('auto' | 'h' | 'm' | 'l'); it rejects when hls.js is
  // needed but missing.
  async start(quality) {
    this.quality = quality;
    Object.assign(this.state.hls, noHLS(), { url: String(this.url) });
    this.onChange('connecting');
    if (usesNativeHLS(this.video)) {
      this.state.hls.engine = 'native';
      this.video.src = String(this.url);
      this.video.play().catch(() => {});
      this.video.addEventListener('playing', this.onPlaying);
      return;
    }
    const Hls = await loadHlsJs();
    if (this.stopped) return;
    if (!Hls.isSupported()) throw new Error('this browser can play neither WebRTC nor LL-HLS');
    this.state.hls.engine = 'hls.js';
    this.Hls = Hls;
    this.create(Hls);
    this.watchTimer = setInterval(this.watchProgress, 1000);
  }

  // watchProgress is the no-progress watchdog's check, once a second (see the top).
  watchProgress = () => {
    const v = this.video;
    const now = performance.now();
    const moved = v.currentTime !== this.progress.time;
    const watched = this.hls && !v.ended && (!v.paused || !this.fragPlaying);
    if (moved || !watched) {
      this.progress = { time: v.currentTime, at: now };
      if (moved) [this.stallWait, this.stallTries] = [STALL_S, 0];
      return;
    }
    if (now - this.progress.at < this.stallWait * 1000) return;
    this.recover();
    this.progress.at = now;
    this.stallWait = Math.min(this.stallWait * 2, STALL_MAX_S);
  };

  // recover restarts a stalled player: first hls.js's own recovery, then a new instance.
  recover() {
    const s = this.state.hls;
    s.recoveries++;
    const how = this.stallTries++ % 2 === 0 ? 'restarting its loaders' : 'a new player';
    console.warn(`LL-HLS: no progress for ${this.stallWait} s (last error: ${s.error ?? 'none'}): ${how}`);
    if (how === 'a new player') {
      this.destroy();
      this.create(this.Hls);
      return;
    }
    this.hls.startLoad(-1);
    this.hls.recoverMediaError();
  }

  onPlaying = () => {
    this.onChange('live');
    this.joinLiveSync();
  };

  // joinLiveSync moves a live playhead that is behind hls.js's target latency (after starting
  // up or a stall; checked on 'playing' and once a second) forward to it when that position
  // is already buffered. hls.js speeds up only while more than a second is buffered ahead, so
  // a player that lost a few hundred milliseconds starting up (loading from the last
  // independent part, its transmux worker booting) or in a stall would otherwise stay that
  // far behind for good. See docs/llhls-latency.md. A page that holds a sync target
  // (events.js sets holdsTarget) keeps its own delay instead.
  joinLiveSync() {
    const h = this.hls;
    const v = this.video;
    if (!h || !this.live || v.paused || this.holdsTarget) return;
    const sync = h.liveSyncPosition;
    const last = v.buffered.length - 1;
    if (sync === null || last < 0 || sync - v.currentTime < LIVE_SYNC_SLACK) return;
    if (sync < v.buffered.start(last) || sync > v.buffered.end(last) - 0.05) return; // not buffered there
    v.currentTime = sync;
  }

  create(Hls) {
    const speed = this.live
      ? { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 } // catch up with the live edge after a stall
      : { lowLatencyMode: false, maxLiveSyncPlaybackRate: 1 }; // a DVR playlist: where the viewer is
    const hls = (this.hls = new Hls({ ...speed, backBufferLength: 30 }));
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      this.applyQuality();
      this.video.play().catch(() => {});
    });
    hls.on(Hls.Events.LEVEL_LOADED, (_, d) => (this.state.hls.lowLatency = !!(d.details && d.details.partList)));
    hls.on(Hls.Events.FRAG_LOADED, (_, d) => (this.bytes += (d.part || d.frag).stats.loaded || 0));
    hls.on(Hls.Events.ERROR, (_, d) => this.onError(Hls, d));
    this.fragPlaying = false;
    this.progress = { time: this.video.currentTime, at: performance.now() };
    hls.on(Hls.Events.FRAG_CHANGED, () => hls === this.hls && (this.fragPlaying = true));
    this.video.addEventListener('playing', this.onPlaying);
    hls.attachMedia(this.video);
    hls.loadSource(String(this.url));
  }

  onError(Hls, d) {
    this.state.hls.error = `${d.type}/${d.details}`;
    if (!d.fatal) return;
    const status = d.response && d.response.code;
    console.warn(`LL-HLS: ${d.type}/${d.details}${status ? ` (HTTP ${status})` : ''}`);
    if (d.type === Hls.ErrorTypes.MEDIA_ERROR) {
      this.hls.recoverMediaError();
      return;
    }
    // The room is not live (404) or its stream not ready (503), or the network failed: start
    // again in 2 s.
    this.onChange(status === 404 ? 'waiting' : 'error', status === 404 ? 'room not live over LL-HLS' : this.state.hls.error);
    this.destroy();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.stopped || this.create(Hls), 2000);
  }

  // setQuality maps the quality menu onto hls.js's levels (sorted from the lowest): auto =
  // adaptive, l = the lowest, h = the highest, m = the middle one.
  setQuality(quality) {
    this.quality = quality;
    this.applyQuality();
  }

  applyQuality() {
    const hls = this.hls;
    if (!hls || !hls.levels || !hls.levels.length) return;
    const n = hls.levels.length;
    const index = { auto: -1, l: 0, m: Math.round((n - 1) / 2), h: n - 1 }[this.quality] ?? -1;
    if (index === -1) {
      if (!hls.autoLevelEnabled) hls.currentLevel = -1; // back to adaptive switching
    } else if (hls.currentLevel !== index || hls.autoLevelEnabled) {
      hls.currentLevel = index; // switches now (flushes the buffer ahead)
    }
  }

  // sample updates state.hls and state.video (the same video fields as the WebRTC player).
  sample() {
    const v = this.video;
    const h = this.hls;
    const s = this.state.hls;
    const now = { at: performance.now(), frames: 0, bytes: this.bytes };
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    if (q) now.frames = q.totalVideoFrames - q.droppedVideoFrames;
    s.currentTime = v.currentTime;
    s.playbackRate = v.playbackRate;
    s.bufferS = bufferAhead(v);
    this.joinLiveSync();
    if (h) {
      s.latency = round(h.latency, 3);
      s.targetLatency = round(h.targetLatency, 3);
      s.levels = h.levels ? h.levels.length : 0;
      s.auto = h.autoLevelEnabled;
      const index = h.currentLevel;
      const l = h.levels && h.levels[index];
      s.level = l ? { index, width: l.width, height: l.height, bitrate: l.bitrate } : null;
    }
    const date = this.playingDate();
    s.glassToGlassMs = date && !v.paused ? Date.now() - date.getTime() : null;
    const seconds = this.prev ? (now.at - this.prev.at) / 1000 : 0;
    Object.assign(this.state.video, {
      framesDecoded: now.frames,
      frameWidth: v.videoWidth,
      frameHeight: v.videoHeight,
      framesPerSecond: seconds > 0 ? Math.round((now.frames - this.prev.frames) / seconds) : 0,
      codec: v.videoWidth ? 'H264' : null, // the server's LL-HLS ladder is H.264 only
      kbps: seconds > 0 ? Math.round(((now.bytes - this.prev.bytes) * 8) / 1000 / seconds) : 0,
    });
    this.prev = now;
  }

  destroy() {
    if (this.hls) this.hls.destroy();
    this.hls = null;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchTimer);
    this.video.removeEventListener('playing', this.onPlaying);
    this.destroy();
    if (this.state.hls.engine === 'native') {
      this.video.removeAttribute('src');
      this.video.load();
    }
  }
}

// bufferAhead is how many seconds of media the <video> holds past its current position.
function bufferAhead(v) {
  const b = v.buffered;
  for (let i = 0; i < b.length; i++) {
    if (b.start(i) <= v.currentTime + 0.1 && v.currentTime <= b.end(i)) return round(b.end(i) - v.currentTime, 3);
  }
  return 0;
}

// nativeDate is the program date of the frame on screen in native HLS (Safari's getStartDate).
function nativeDate(v) {
  const start = v.getStartDate ? v.getStartDate().getTime() : NaN;
  return Number.isFinite(start) ? new Date(start + v.currentTime * 1000) : null;
}

function round(x, digits) {
  return typeof x === 'number' && Number.isFinite(x) ? Number(x.toFixed(digits)) : null;
}

// renderHLS writes state.hls into the page's #h-* elements.
export function renderHLS($, s) {
  const dash = (x, unit = '') => (x === null || x === undefined ? '–' : `${x}${unit}`);
  $('h-latency').textContent = dash(s.latency, ' s');
  $('h-g2g').textContent = dash(s.glassToGlassMs, ' ms');
  $('h-buffer').textContent = dash(s.bufferS, ' s');
  const l = s.level;
  const level = l ? `${l.height}p · ${Math.round(l.bitrate / 1000)} kbit/s` : '–';
  $('h-level').textContent = l ? `${level} (${l.index + 1}/${s.levels}${s.auto ? ', auto' : ''})` : level;
}
