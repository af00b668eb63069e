// sync.js: the watch page's latency modes for WebRTC (docs/latency.md). In a sync room every
// viewer holds capture + the room's target delay on screen: the page measures each presented
// frame's delay from its capture instant (the abs-capture-time header extension, on the
// server's clock) to its display, knows the server's clock from GET /api/time, and sets the
// video receiver's jitterBufferTarget so that the delay meets the target, adjusting it as the
// path changes; the audio, which the page keeps out of libwebrtc's lip sync in a sync room, is
// held at the same target from its own measured delay. In a fastest room it only shows the
// delay (the server asks for playout delay 0). frametimes.js keeps the per-frame records.

import { FrameTimes, noBreakdown, trimmedMean } from './frametimes.js';
import { apiURL } from './whx.js';

const ABS_CAPTURE_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';
const PLAYOUT_DELAY = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';
const NTP_UNIX_MS = 2208988800000; // 1900 → 1970
const CLOCK_EVERY_MS = 30000; // the server clock offset is measured again this often
const POLICY_RETRY_MS = 5000; // the room's policy is asked again this often until known
const ADJUST_EVERY_MS = 250; // jitterBufferTarget changes at most this often
const STATS_EVERY_MS = 500; // getStats (jitter buffers, breakdown) is read this often
const GAIN = 0.5; // share of the error corrected per adjustment
const DEAD_BAND_MS = 1; // errors below this are left alone
const MAX_STEP_MS = 25; // per adjustment: libwebrtc moves its video delay by at most 100 ms/s anyway
const MAX_TARGET_MS = 4000; // Chromium's limit for jitterBufferTarget
const HISTORY = 40; // on-screen samples kept for tests (window.glintWatch.sync.shown)

// noSync is the state before the room's policy is known.
export function noSync() {
  return {
    latency: null, // 'fastest' | 'sync' (GET /api/rooms/{room})
    targetMs: null, // a sync room's capture → screen target
    delayMs: null, // capture → display delay of the last adjustment period (trimmed mean of its frames)
    audioDelayMs: null, // capture → playout of the audio at the last adjustment (lip sync: against delayMs)
    audioJitterBufferTargetMs: null, // what the page asked the audio receiver for (sync rooms)
    errorMs: null, // delayMs − targetMs
    jitterBufferTargetMs: null, // what the page asked the receivers for
    offsetMs: null, // server clock − this page's clock
    rttMs: null, // of the best /api/time round trip
    captureTimes: false, // the frames carry abs-capture-time
    negotiated: [], // the latency header extensions the video answer accepted ('playout-delay', 'abs-capture-time')
    buffers: null, // {video, audio}: Chromium's jitter buffer over the last period {delayMs, targetMs, minimumMs}
    nacks: 0, // NACKs the page sent for video (after 3 NACKed frames Chromium adds the RTT to its buffer for 60 s)
    shown: [], // {atMs (page clock, whole 250 ms), captureMs (server clock), delayMs}: recent samples
    frames: [], // the last presented frames {c: capture (server clock), r, p, d: receive, presentation, expected display (page clock)}
    breakdown: noBreakdown(), // where the delay went over the last period (frametimes.js)
    scriptMsPerS: null, // this page's time in sync.js per second of video (its CPU cost)
  };
}

// offerCaptureTimes asks for abs-capture-time (stopped by default in Chromium) and
// playout-delay on a transceiver before the offer is made.
export function offerCaptureTimes(transceiver) {
  if (!transceiver.getHeaderExtensionsToNegotiate) return;
  const wanted = [ABS_CAPTURE_TIME, PLAYOUT_DELAY];
  const exts = transceiver.getHeaderExtensionsToNegotiate().map((e) =>
    wanted.includes(e.uri) && e.direction === 'stopped' ? { ...e, direction: 'recvonly' } : e,
  );
  try {
    transceiver.setHeaderExtensionsToNegotiate(exts);
  } catch (err) {
    console.warn(`header extensions: ${err.message}`);
  }
}

// relayConfig returns the RTCPeerConnection settings of a test-only ?turn=host:port
// (&turn_user=&turn_pass=): every path through that TURN relay (iceTransportPolicy 'relay').
export function relayConfig(query = new URLSearchParams(location.search)) {
  const turn = query.get('turn');
  if (!turn) return null;
  return {
    iceServers: [{ urls: `turn:${turn}?transport=udp`, username: query.get('turn_user') || 'glint', credential: query.get('turn_pass') || 'glint' }],
    iceTransportPolicy: 'relay',
  };
}

// serverOffset measures server clock − page clock with the best of n GET /api/time round trips.
export async function serverOffset(n = 5) {
  let best = null;
  for (let i = 0; i < n; i++) {
    const sent = performance.timeOrigin + performance.now();
    const resp = await fetch(apiURL('api/time'), { cache: 'no-store' });
    const { now_ms: server } = await resp.json();
    const received = performance.timeOrigin + performance.now();
    const rtt = received - sent;
    if (!best || rtt < best.rttMs) best = { offsetMs: server - (sent + received) / 2, rttMs: rtt };
  }
  return best;
}

// unixCaptureMs is a synchronization source's capture instant (abs-capture-time) in Unix ms:
// Chromium has given it in NTP ms (since 1900) and in Unix ms.
const unixCaptureMs = (src) => (src.captureTimestamp > NTP_UNIX_MS + 1e12 ? src.captureTimestamp - NTP_UNIX_MS : src.captureTimestamp);

// audioDelay is capture → playout of the audio the receiver played last (the source's timestamp
// is when its packet was played out), on the server's clock; null without capture times. Against
// the video's delay it shows the lip sync that libwebrtc keeps.
function audioDelay(pc, offsetMs) {
  const receiver = pc.getReceivers().find((r) => r.track && r.track.kind === 'audio');
  const src = receiver && receiver.getSynchronizationSources()[0];
  if (!src || src.captureTimestamp === undefined) return null;
  const played = src.timestamp < 1e12 ? performance.timeOrigin + src.timestamp : src.timestamp; // either timeline
  return played + offsetMs - unixCaptureMs(src);
}

// separateAudio gives the audio of an answer its own media stream id (a=msid and a=ssrc msid
// lines of its m-section), so that libwebrtc does not tie the video's playout to the audio's
// (lip sync): in a sync room the page holds each at capture + target itself, and an audio
// jitter buffer grown by a bursty path no longer drags the video behind the target.
export function separateAudio(sdp) {
  let inAudio = false;
  return sdp
    .split('\r\n')
    .map((line) => {
      if (line.startsWith('m=')) inAudio = line.startsWith('m=audio');
      if (!inAudio) return line;
      return line.replace(/^(a=msid:|a=ssrc:\d+ msid:)(\S+)/, '$1$2-audio');
    })
    .join('\r\n');
}

// negotiatedExtensions names the latency header extensions the video transceiver negotiated.
function negotiatedExtensions(pc) {
  const t = pc.getTransceivers().find((x) => x.receiver.track && x.receiver.track.kind === 'video');
  if (!t || !t.getNegotiatedHeaderExtensions) return [];
  return t
    .getNegotiatedHeaderExtensions()
    .filter((e) => e.direction !== 'stopped' && (e.uri === ABS_CAPTURE_TIME || e.uri === PLAYOUT_DELAY))
    .map((e) => e.uri.split('/').pop());
}

// WebRTCSync follows one peer connection at a time (attach / detach) and keeps state.sync.
export class WebRTCSync {
  constructor({ room, video, state }) {
    this.room = room;
    this.video = video;
    this.state = state;
    state.sync = noSync();
    this.pc = null;
    this.delays = [];
    this.lastAdjust = 0;
    this.clockAt = 0;
    this.policyAt = 0;
    this.frameHandle = 0;
    this.times = new FrameTimes();
    this.scriptMs = 0; // time spent in onFrame since the last adjustment
    this.buffersAt = 0; // when getStats was last read
  }

  // attach starts following pc (called once its transceivers are added, before the offer).
  attach(pc) {
    this.detach();
    this.pc = pc;
    // A new session's receivers start without a target.
    Object.assign(this.state.sync, { delayMs: null, errorMs: null, jitterBufferTargetMs: null, audioJitterBufferTargetMs: null, buffers: null, negotiated: [], nacks: 0, frames: [], breakdown: noBreakdown() });
    this.times.reset();
    this.prevBuffers = null;
    for (const t of pc.getTransceivers()) offerCaptureTimes(t);
    this.loadPolicy();
    this.watchFrames();
  }

  // answer rewrites a WHEP answer before it is applied: in a sync room (known by then: the
  // policy is asked for at attach) audio and video are held apart (separateAudio).
  answer(sdp) {
    return this.state.sync.latency === 'sync' ? separateAudio(sdp) : sdp;
  }

  detach() {
    this.pc = null;
    this.receiver = null;
    this.delays = [];
    if (this.frameHandle && this.video.cancelVideoFrameCallback) this.video.cancelVideoFrameCallback(this.frameHandle);
    this.frameHandle = 0;
  }

  async loadPolicy() {
    this.policyAt = Date.now();
    try {
      const resp = await fetch(apiURL(`api/rooms/${encodeURIComponent(this.room)}`), { cache: 'no-store' });
      if (!resp.ok) return; // not live yet: asked again at the next attach or clock round
      const info = await resp.json();
      this.state.sync.latency = info.latency || 'fastest';
      this.state.sync.targetMs = info.latency === 'sync' ? info.target_delay_ms : null;
    } catch (err) {
      console.warn(`room policy: ${err.message}`);
    }
  }

  async updateClock() {
    this.clockAt = Date.now();
    try {
      const c = await serverOffset();
      Object.assign(this.state.sync, c);
    } catch (err) {
      console.warn(`server clock: ${err.message}`);
    }
  }

  // watchFrames runs once per presented video frame: its capture instant (server clock) and
  // display instant give the delay.
  watchFrames() {
    if (!this.video.requestVideoFrameCallback) return;
    const onFrame = (_now, meta) => {
      if (!this.pc) return;
      this.frameHandle = this.video.requestVideoFrameCallback(onFrame);
      const started = performance.now();
      this.onFrame(meta);
      this.scriptMs += performance.now() - started;
    };
    this.frameHandle = this.video.requestVideoFrameCallback(onFrame);
  }

  onFrame(meta) {
    const s = this.state.sync;
    if (Date.now() - this.clockAt > CLOCK_EVERY_MS) this.updateClock();
    if (s.latency === null && Date.now() - this.policyAt > POLICY_RETRY_MS) this.loadPolicy();
    if (!s.negotiated.length) s.negotiated = negotiatedExtensions(this.pc);
    this.receiver ||= this.pc.getReceivers().find((r) => r.track && r.track.kind === 'video');
    const src = this.receiver && this.receiver.getSynchronizationSources()[0];
    if (!src || src.captureTimestamp === undefined || s.offsetMs === null) return;
    s.captureTimes = true;
    let capture = unixCaptureMs(src);
    if (meta.rtpTimestamp !== undefined) capture += ((meta.rtpTimestamp - src.rtpTimestamp) | 0) / 90;
    const shownAt = performance.timeOrigin + meta.expectedDisplayTime; // page clock
    const delay = shownAt + s.offsetMs - capture;
    this.times.add(meta, capture, performance.timeOrigin);
    s.frames = this.times.frames;
    this.delays.push(delay);
    this.record(shownAt, delay);
    if (shownAt - this.lastAdjust >= ADJUST_EVERY_MS) this.adjust(shownAt);
  }

  // record keeps, for each whole 250 ms of the page clock, the capture instant on screen then
  // (continuous: that instant minus the delay of the frame shown).
  record(shownAt, delay) {
    const s = this.state.sync;
    const at = Math.floor(shownAt / 250) * 250;
    const last = s.shown[s.shown.length - 1];
    if (last && last.atMs === at) return;
    s.shown.push({ atMs: at, captureMs: Math.round((at + s.offsetMs - delay) * 10) / 10, delayMs: Math.round(delay * 10) / 10 });
    if (s.shown.length > HISTORY) s.shown.shift();
  }

  // sampleBuffers reads the receivers' jitter buffer delays (average, target, minimum per
  // emitted frame or sample) since the previous call into state.sync.buffers.
  async sampleBuffers() {
    const pc = this.pc;
    if (!pc) return;
    const report = await pc.getStats();
    const now = {};
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && (r.kind === 'video' || r.kind === 'audio')) now[r.kind] = r;
    });
    const prev = this.prevBuffers || {};
    this.prevBuffers = now;
    const per = (r, p, key) => {
      const n = (r.jitterBufferEmittedCount || 0) - ((p && p.jitterBufferEmittedCount) || 0);
      return n > 0 ? Math.round((1000 * ((r[key] || 0) - ((p && p[key]) || 0))) / n) : null;
    };
    const buffers = {};
    for (const kind of ['video', 'audio']) {
      const r = now[kind];
      if (!r) continue;
      buffers[kind] = {
        delayMs: per(r, prev[kind], 'jitterBufferDelay'),
        targetMs: per(r, prev[kind], 'jitterBufferTargetDelay'),
        minimumMs: per(r, prev[kind], 'jitterBufferMinimumDelay'),
      };
    }
    this.state.sync.buffers = buffers;
    this.state.sync.breakdown = this.times.summarize(this.state.sync.offsetMs || 0, now.video);
    if (now.video) this.state.sync.nacks = now.video.nackCount || 0;
  }

  // adjust moves the video receiver's jitterBufferTarget by a share of the last period's error
// (the trimmed mean of its frames' delays), at most MAX_STEP_MS.
  adjust(now) {
    if (now - this.buffersAt >= STATS_EVERY_MS) {
      this.buffersAt = now;
      this.sampleBuffers().catch(() => {});
    }
    const s = this.state.sync;
    const delay = trimmedMean(this.delays);
    this.delays = [];
    const audio = audioDelay(this.pc, s.offsetMs);
    s.audioDelayMs = audio === null ? null : Math.round(audio);
    if (s.latency === 'sync' && s.targetMs && audio !== null) this.holdAudio(audio);
    if (this.lastAdjust) s.scriptMsPerS = Math.round((100000 * this.scriptMs) / (now - this.lastAdjust)) / 100;
    this.scriptMs = 0;
    this.lastAdjust = now;
    if (delay === null) return;
    s.delayMs = Math.round(delay);
    if (s.latency !== 'sync' || !s.targetMs) {
      s.errorMs = null;
      return;
    }
    const error = delay - s.targetMs;
    s.errorMs = Math.round(error);
    s.jitterBufferTargetMs = this.steer('video', s.jitterBufferTargetMs, error);
  }

  // holdAudio sets the audio receiver's jitterBufferTarget to what its buffer must hold for the
  // audio to play at capture + target: the target less the rest of the audio's delay (its
  // delay now less what its buffer held over the last period). Set, not stepped: NetEq moves
  // its buffer slowly (time-stretching), and a loop on its delay would wind up meanwhile.
  holdAudio(audioDelayMs) {
    const s = this.state.sync;
    const buffered = s.buffers && s.buffers.audio ? s.buffers.audio.delayMs : null;
    if (buffered === null || buffered === undefined) return;
    const next = Math.round(Math.min(MAX_TARGET_MS, Math.max(0, s.targetMs - (audioDelayMs - buffered))));
    if (s.audioJitterBufferTargetMs !== null && Math.abs(next - s.audioJitterBufferTargetMs) < DEAD_BAND_MS) return;
    s.audioJitterBufferTargetMs = next;
    for (const r of this.pc.getReceivers()) {
      if (r.track && r.track.kind === 'audio' && 'jitterBufferTarget' in r) r.jitterBufferTarget = next;
    }
  }

  // steer moves the jitterBufferTarget of the receiver of kind from current by a share of
  // error (at most MAX_STEP_MS) and returns the new target.
  steer(kind, current, error) {
    if (Math.abs(error) < DEAD_BAND_MS) return current;
    const step = Math.max(-MAX_STEP_MS, Math.min(MAX_STEP_MS, GAIN * error));
    const next = Math.round(Math.min(MAX_TARGET_MS, Math.max(0, (current || 0) - step)));
    for (const r of this.pc.getReceivers()) {
      if (r.track && r.track.kind === kind && 'jitterBufferTarget' in r) r.jitterBufferTarget = next;
    }
    return next;
  }
}

// renderSync shows the delay and its error in the page's #s-sync.
export function renderSync($, s) {
  const el = $('s-sync');
  if (!el) return;
  if (!s || s.latency === null) el.textContent = '–';
  else if (s.latency !== 'sync') el.textContent = s.delayMs === null ? 'fastest' : `fastest · ${s.delayMs} ms from capture`;
  else if (s.delayMs === null) el.textContent = `sync to ${s.targetMs} ms${s.captureTimes ? '' : ' (no capture times yet)'}`;
  else el.textContent = `${s.delayMs} ms (target ${s.targetMs}, error ${s.errorMs >= 0 ? '+' : ''}${s.errorMs})`;
}
