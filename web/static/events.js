// events.js: the watch page's clock and event channel (docs/events.md). It opens the room's
// WebSocket (/ws/rooms/{room}), keeps the server's clock with NTP-style pings (the sample with
// the smallest round trip of the recent ones wins), follows every presented video frame
// (requestVideoFrameCallback) to know the capture time of the frame on screen, on the server's
// clock, and from it:
//   - shows each timed event when the first frame at or after its capture time is presented
//     (its video instant), in #event-overlay;
//   - reports the viewer's capture → screen delay to the server (a "delay" message, once a
//     second), which judges the viewer's actions by it;
//   - in a sync room (the hello says so), or with ?target=MS, holds LL-HLS playback at the
//     target delay by nudging video.playbackRate within 0.95-1.05 (never faster when little is
//     buffered, so it never stalls); WebRTC is held by sync.js (jitterBufferTarget).
// The capture time of a frame: LL-HLS: hls.js's EXT-X-PROGRAM-DATE-TIME of the frame (the
// server writes the capture time there); WebRTC: the frame's captureTime (from the sender
// reports / abs-capture-time, in the local clock) moved onto the server's clock, or, when the
// browser gives none, its receive time less half the round trip.
// Its state is window.glintWatch.events (printed by the e2e tests' browser.mjs).
import { apiURL } from './whx.js';
import { withToken } from './token.js';

const PING_BURST = 8; // pings at start, PING_GAP_MS apart
const PING_GAP_MS = 100;
const PING_EVERY_MS = 5000;
const CLOCK_SAMPLES = 16; // the best of this many recent samples gives the offset
const SHOW_MS = 4000; // how long an event stays in the overlay
const RATE_MIN = 0.95;
const RATE_MAX = 1.05;
const RATE_GAIN = 0.5; // playbackRate change per second of error: 100 ms behind → 1.05
const MIN_BUFFER_TO_SPEED_S = 0.5; // no faster than 1 with less than this buffered
const JUMP_OVER_MS = 1000; // further behind the target than this (a stall): seek forward to it (a seek decodes from the keyframe before, so not for less)
const JUMP_EVERY_MS = 2000; // at most one such seek per this

export const noEvents = () => ({
  connected: false,
  socket: null, // the socket id the server gave (actions name it)
  offsetMs: null, // server clock − this page's clock
  rttMs: null, // round trip of the sample the offset comes from
  sync: false,
  targetMs: null, // the delay this page holds (LL-HLS), if any
  delayMs: null, // capture → screen of the frame on screen
  errorMs: null, // delayMs − targetMs
  frameCaptureMs: null, // capture time (server clock) of the frame on screen
  rate: 1,
  playedRate: null, // how fast media time really advanced over the last 2 s (LL-HLS)
  jumps: 0, // forward seeks to the target after falling far behind (LL-HLS)
  clockVsDateMs: null, // the page's server clock − Date.now(): its error where both clocks agree
  shown: [], // the last events shown: {id, type, captureMs, frameCaptureMs, alignMs, late}
  pending: 0,
});

// startEvents runs the channel for the page's lifetime. player() is the LL-HLS player while
// LL-HLS plays (else null), peer() the WebRTC peer connection while WebRTC plays.
export function startEvents({ room, video, state, player, peer }) {
  const ch = new EventChannel({ room, video, state, player, peer });
  ch.connect();
  return ch;
}

class EventChannel {
  constructor({ room, video, state, player, peer }) {
    this.room = room;
    this.video = video;
    this.s = state.events = noEvents();
    this.state = state;
    this.player = player;
    this.peer = peer;
    this.ws = null;
    this.samples = []; // clock samples {offset, rtt}
    this.pending = []; // events not shown yet, by capture time
    this.seen = new Set();
    this.retryMs = 1000;
    this.overlay = document.getElementById('event-overlay');
    this.queryTarget = Number(new URLSearchParams(location.search).get('target')) || null;
    this.webrtcRTT = 0;
    this.lastRate = 0;
    this.lastJump = 0;
    if (this.queryTarget) this.s.targetMs = this.queryTarget;
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      video.requestVideoFrameCallback(this.onFrame);
    } else {
      setInterval(() => this.onFrame(performance.now(), null), 33);
    }
    setInterval(() => this.reportDelay(), 1000);
    setInterval(() => this.sampleRTT(), 2000);
  }

  connect() {
    const url = withToken(new URL(apiURL(`ws/rooms/${this.room}`))); // a WebSocket cannot carry a header
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = (this.ws = new WebSocket(url));
    ws.onopen = () => {
      this.s.connected = true;
      this.retryMs = 1000;
      for (let i = 0; i < PING_BURST; i++) setTimeout(() => this.ping(ws), i * PING_GAP_MS);
      this.pingTimer = setInterval(() => this.ping(ws), PING_EVERY_MS);
    };
    ws.onmessage = (e) => this.onMessage(e.data);
    ws.onclose = (e) => {
      this.s.connected = false;
      clearInterval(this.pingTimer);
      if (e.code !== 1000) console.warn(`events: socket closed ${e.code} ${e.reason}`);
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 30000);
    };
  }

  ping(ws) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ kind: 'ping', t0: nowMs() }));
  }

  onMessage(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    switch (m.kind) {
      case 'hello':
        this.s.socket = m.id;
        this.s.sync = !!m.sync;
        this.s.targetMs = this.queryTarget || (m.sync ? m.hls_target_ms : null);
        this.s.webrtcTargetMs = m.sync ? m.target_ms : null;
        break;
      case 'pong':
        this.onPong(m, nowMs());
        break;
      case 'event':
        this.addEvent(m.event);
        break;
      case 'error':
        console.warn(`events: ${m.error}`);
        break;
    }
  }

  // onPong keeps the offset of the recent sample with the smallest round trip.
  onPong(m, t3) {
    const rtt = t3 - m.t0 - (m.t2 - m.t1);
    const offset = (m.t1 - m.t0 + (m.t2 - t3)) / 2;
    this.samples.push({ offset, rtt });
    if (this.samples.length > CLOCK_SAMPLES) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.s.offsetMs = round(best.offset);
    this.s.rttMs = round(best.rtt);
    this.s.clockVsDateMs = round(nowMs() + best.offset - Date.now());
  }

  addEvent(e) {
    if (this.seen.has(e.id)) return;
    this.seen.add(e.id);
    this.pending.push(e);
    this.pending.sort((a, b) => a.capture_ms - b.capture_ms);
    this.s.pending = this.pending.length;
  }

  // serverNow is the server's clock at local time local (ms since the epoch).
  serverAt(local) {
    return local + (this.s.offsetMs ?? 0);
  }

  // onFrame runs for every presented frame: the capture time of the frame on screen, the
  // delay, the events due, the LL-HLS rate.
  onFrame = (now, meta) => {
    if (meta) this.video.requestVideoFrameCallback(this.onFrame);
    const capture = this.frameCapture(meta);
    if (capture === null || this.s.offsetMs === null) return;
    const display = this.serverAt(performance.timeOrigin + (meta ? meta.expectedDisplayTime : now));
    this.s.frameCaptureMs = round(capture);
    this.s.delayMs = round(display - capture);
    this.s.errorMs = this.s.targetMs ? round(this.s.delayMs - this.s.targetMs) : null;
    this.showDue(capture);
    this.holdTarget();
  };

  // frameCapture is the capture time (server clock, ms) of the frame being presented.
  frameCapture(meta) {
    const hls = this.player();
    if (hls) {
      const date = hls.playingDate();
      if (!date) return null;
      const ahead = meta ? meta.mediaTime - this.video.currentTime : 0;
      return date.getTime() + ahead * 1000;
    }
    if (!this.peer() || !meta) return null;
    if (meta.captureTime !== undefined) return this.serverAt(performance.timeOrigin + meta.captureTime);
    if (meta.receiveTime !== undefined) return this.serverAt(performance.timeOrigin + meta.receiveTime - this.webrtcRTT / 2);
    return null;
  }

  // showDue shows every pending event whose capture time this frame has reached.
  showDue(capture) {
    const prev = this.prevCapture;
    this.prevCapture = capture;
    while (this.pending.length && this.pending[0].capture_ms <= capture) {
      const e = this.pending.shift();
      const alignMs = round(capture - e.capture_ms);
      const late = alignMs > 1000; // its frame was on screen before the event came
      // gapMs: since the frame shown before (one frame interval, more when frames were dropped)
      const gapMs = prev === undefined ? null : round(capture - prev);
      this.s.shown.push({ id: e.id, type: e.type, captureMs: e.capture_ms, frameCaptureMs: round(capture), alignMs, gapMs, late });
      if (this.s.shown.length > 20) this.s.shown.shift();
      this.show(e, late);
    }
    this.s.pending = this.pending.length;
  }

  show(e, late) {
    if (!this.overlay) return;
    const item = document.createElement('div');
    item.className = `event event-${e.type}${late ? ' late' : ''}`;
    item.textContent = `${e.type}${e.payload === undefined ? '' : `: ${describe(e.payload)}`}`;
    this.overlay.append(item);
    setTimeout(() => item.remove(), SHOW_MS);
  }

  // holdTarget nudges the LL-HLS playback rate toward the target delay: faster when behind
  // (only with enough buffered to not stall), slower when ahead.
  holdTarget() {
    const hls = this.player();
    const v = this.video;
    if (!hls || !hls.hls || !this.s.targetMs || v.paused) return;
    hls.hls.config.maxLiveSyncPlaybackRate = 1; // hls.js's own catch-up would fight the target
    hls.holdsTarget = true; // and so would the player's jump to hls.js's live position (joinLiveSync)
    const now = performance.now();
    if (now - this.lastRate < 250) return;
    this.lastRate = now;
    this.measurePlayedRate(now);
    // Far behind (a stall, or a slow start): jump to the target within what is buffered,
    // instead of needing seconds at 1.05.
    const ahead = bufferedAhead(v);
    if (this.s.errorMs > JUMP_OVER_MS && now - this.lastJump > JUMP_EVERY_MS && ahead > MIN_BUFFER_TO_SPEED_S) {
      this.lastJump = now;
      v.currentTime += Math.min(this.s.errorMs / 1000, ahead - MIN_BUFFER_TO_SPEED_S);
      this.s.jumps++;
      return;
    }
    let rate = 1 + (RATE_GAIN * this.s.errorMs) / 1000;
    rate = Math.min(RATE_MAX, Math.max(RATE_MIN, rate));
    if (rate > 1 && ahead < MIN_BUFFER_TO_SPEED_S) rate = 1;
    if (Math.abs(rate - 1) < 0.003) rate = 1;
    rate = Number(rate.toFixed(3));
    if (v.playbackRate !== rate) v.playbackRate = rate;
    this.s.rate = rate;
  }

  // measurePlayedRate keeps the rate at which media time really advanced over the last 2 s
  // or more (state.playedRate), to see the rate asked for against the one played.
  measurePlayedRate(now) {
    const ct = this.video.currentTime;
    const p = this.playedFrom;
    if (!p || ct < p.ct) {
      this.playedFrom = { now, ct };
    } else if (now - p.now >= 2000) {
      this.s.playedRate = Number(((ct - p.ct) / ((now - p.now) / 1000)).toFixed(3));
      this.playedFrom = { now, ct };
    }
  }

  reportDelay() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.s.delayMs === null) return;
    ws.send(JSON.stringify({ kind: 'delay', delay_ms: Math.max(0, this.s.delayMs), rtt_ms: this.s.rttMs ?? 0 }));
  }

  // sampleRTT reads the WebRTC round trip, for frames without a capture time.
  async sampleRTT() {
    const pc = this.peer();
    if (!pc) return;
    try {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'candidate-pair' && r.nominated && r.currentRoundTripTime !== undefined) {
          this.webrtcRTT = r.currentRoundTripTime * 1000;
        }
      });
    } catch {
      // the connection closed meanwhile
    }
  }
}

// renderEvents writes the delay and its error into the page's #e-* elements.
export function renderEvents($, s) {
  const dash = (x, unit = '') => (x === null || x === undefined ? '–' : `${x}${unit}`);
  if (!$('e-delay')) return;
  $('e-delay').textContent = dash(s.delayMs, ' ms');
  $('e-target').textContent = s.targetMs ? `${s.targetMs} ms (error ${dash(s.errorMs, ' ms')}, rate ${s.rate})` : 'none';
  $('e-clock').textContent = s.offsetMs === null ? '–' : `${s.offsetMs} ms (rtt ${s.rttMs} ms)`;
}

function describe(payload) {
  if (typeof payload === 'string') return payload;
  if (payload && typeof payload === 'object' && 'message' in payload) return String(payload.message);
  return JSON.stringify(payload);
}

function bufferedAhead(v) {
  const b = v.buffered;
  for (let i = 0; i < b.length; i++) {
    if (b.start(i) <= v.currentTime + 0.1 && v.currentTime <= b.end(i)) return b.end(i) - v.currentTime;
  }
  return 0;
}

const nowMs = () => performance.timeOrigin + performance.now();
const round = (x) => Math.round(x * 10) / 10;
