// publish.js: the camera + microphone publisher (WHIP, simulcast l/m/h). It keeps its latest
// state in window.glintPublish for tests and tooling.
//
// Query parameters: ?simulcast=0 sends one encoding; ?codec=h264|vp8|vp9|av1 puts that codec first;
// ?token=T sends "Authorization: Bearer T"; ?minKbps=N pins Chrome's bandwidth estimate (below).
import { setupTestEvents } from './eventsend.js';
import { apiURL, endSession, exchange, iceServers, roomFromPath } from './whx.js';

const $ = (id) => document.getElementById(id);
const preview = $('preview');
const room = roomFromPath();
const params = new URLSearchParams(location.search);
const token = params.get('token') || undefined;
const simulcast = params.get('simulcast') !== '0';
const codec = (params.get('codec') || '').toLowerCase();
const minKbps = Number(params.get('minKbps')) || 0;
const whipURL = apiURL(`whip/${room}`);

const SIMULCAST = [
  { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'h', maxBitrate: 2500000 },
];
const SINGLE = [{ maxBitrate: 2500000 }];

const state = (window.glintPublish = {
  state: 'connecting', // 'connecting' | 'live' | 'error' | 'stopped'
  error: null,
  session: null, // the Location of the WHIP session
  // [{rid, frameWidth, framesEncoded, keyFramesEncoded, pliCount, kbps, qualityLimitationReason,
  //   encoderImplementation, encodeMs, sendDelayMs (per frame / per packet over the last second)}]
  outbound: [],
});

let pc = null;
let stream = null;
let generation = 0; // counts publish() and hangUp() calls
let resume = false; // has been live since the last Start: retry after a loss
let retries = 0;
let retryTimer = 0;
let retryAt = 0;
let lostTimer = 0;
let resource = null;
let prev = new Map(); // outbound-rtp id → {at, bytes}

function setState(s, error = null) {
  state.state = s;
  state.error = error;
  render();
}

// preferCodec moves the codec named in ?codec= to the front of the transceiver's preferences.
function preferCodec(transceiver) {
  if (!codec) return;
  if (!['h264', 'vp8', 'vp9', 'av1'].includes(codec)) throw new Error(`unknown codec "${codec}" (use h264, vp8, vp9 or av1)`);
  const all = RTCRtpSender.getCapabilities('video').codecs;
  const wanted = all.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`);
  if (!wanted.length) throw new Error(`this browser cannot send ${codec}`);
  transceiver.setCodecPreferences([...wanted, ...all.filter((c) => !wanted.includes(c))]);
}

// Chrome's bandwidth estimate starts near 300 kbit/s and climbs slowly even on a LAN, so layers m
// and h may take minutes to start. ?minKbps=N adds Chrome's x-google-{start,min,max}-bitrate to
// the video codecs of the answer, which starts all layers within seconds. Off by default.
function pinBitrate(sdp) {
  const extra = `x-google-start-bitrate=${minKbps};x-google-min-bitrate=${minKbps};x-google-max-bitrate=${Math.max(minKbps, 5000)}`;
  const lines = sdp.split('\r\n');
  const video = new Set(); // payload types of video codecs
  let inVideo = false;
  for (const line of lines) {
    if (line.startsWith('m=')) inVideo = line.startsWith('m=video');
    const m = inVideo && line.match(/^a=rtpmap:(\d+) (VP8|VP9|H264|AV1)\//i);
    if (m) video.add(m[1]);
  }
  const hasFmtp = new Set();
  const out = lines.map((line) => {
    const m = line.match(/^a=fmtp:(\d+) /);
    if (!m || !video.has(m[1])) return line;
    hasFmtp.add(m[1]);
    return `${line};${extra}`;
  });
  return out
    .flatMap((line) => {
      const m = line.match(/^a=rtpmap:(\d+) /);
      return m && video.has(m[1]) && !hasFmtp.has(m[1]) ? [line, `a=fmtp:${m[1]} ${extra}`] : [line];
    })
    .join('\r\n');
}

// publish starts a WHIP session, capturing the camera and microphone first unless a retry still
// holds them. A stop() or hangUp() while it runs (generation changed) abandons it.
async function publish() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  const gen = ++generation;
  setState('connecting');
  try {
    if (!stream) {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 1280, height: 720, frameRate: 30 },
        audio: true,
      });
      if (gen !== generation) return media.getTracks().forEach((t) => t.stop());
      stream = media;
      preview.srcObject = media;
    }
    const media = stream;
    const servers = await iceServers(whipURL, token);
    if (gen !== generation) return;
    const conn = (pc = new RTCPeerConnection({ iceServers: servers }));
    const [videoTrack] = media.getVideoTracks();
    const [audioTrack] = media.getAudioTracks();
    const vt = conn.addTransceiver(videoTrack, {
      direction: 'sendonly',
      streams: [media],
      sendEncodings: simulcast ? SIMULCAST : SINGLE,
    });
    preferCodec(vt);
    if (audioTrack) conn.addTransceiver(audioTrack, { direction: 'sendonly', streams: [media] });
    conn.onconnectionstatechange = () => onConnectionState(conn);
    const s = await exchange(conn, whipURL, { token, transformAnswer: minKbps ? pinBitrate : undefined });
    if (gen !== generation) return endSession(s.resource, { token });
    resource = s.resource;
    state.session = s.location;
  } catch (err) {
    if (gen === generation) fail(err.message || String(err));
  }
}

function onConnectionState(conn) {
  if (conn !== pc) return;
  clearTimeout(lostTimer);
  switch (conn.connectionState) {
    case 'connected':
      retries = 0;
      resume = true;
      setState('live');
      break;
    case 'disconnected': // often recovers by itself; give it 3 s
      lostTimer = setTimeout(() => conn === pc && fail('connection lost'), 3000);
      break;
    case 'failed':
      fail('connection failed');
      break;
  }
}

// fail ends the current attempt. A publisher that has been live retries by itself (1 s, 2 s, 4 s,
// then every 5 s) until stopped, e.g. across a server restart; otherwise it releases the camera.
function fail(reason) {
  hangUp();
  if (!resume) releaseMedia();
  setState('error', reason);
  if (!resume) return;
  const delay = Math.min(1000 * 2 ** retries, 5000);
  retries++;
  retryAt = Date.now() + delay;
  retryTimer = setTimeout(publish, delay);
  render();
}

// hangUp ends the session (DELETE) and closes the connection, keeping the camera.
function hangUp(keepalive = false) {
  generation++;
  clearTimeout(lostTimer);
  if (resource) endSession(resource, { token, keepalive });
  if (pc) pc.close();
  pc = null;
  resource = null;
  state.session = null;
  state.outbound = [];
  prev = new Map();
}

function releaseMedia() {
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  preview.srcObject = null;
}

// stop ends publishing: the session, any pending retry and the camera.
function stop(keepalive = false) {
  clearTimeout(retryTimer);
  retryTimer = 0;
  resume = false;
  retries = 0;
  hangUp(keepalive);
  releaseMedia();
}

const RID_ORDER = { l: 0, m: 1, h: 2 };

// latencyTotals keeps the outbound-rtp counters that say how long a frame waits in this browser.
const latencyTotals = (s) => ({
  encodeS: s.totalEncodeTime || 0,
  frames: s.framesEncoded || 0,
  sendDelayS: s.totalPacketSendDelay || 0,
  packets: s.packetsSent || 0,
});

// latencyPerFrame: over the last second, the encoder's time per frame and the pacer's delay per
// packet (ms; null without frames or packets), the publisher's share of the capture → screen delay.
function latencyPerFrame(now, p) {
  const per = (sum, count) => (p && now[count] > p[count] ? Math.round((10000 * (now[sum] - p[sum])) / (now[count] - p[count])) / 10 : null);
  return { encodeMs: per('encodeS', 'frames'), sendDelayMs: per('sendDelayS', 'packets') };
}

// sample reads the video outbound-rtp stats (one per encoding) into window.glintPublish.
async function sample() {
  const conn = pc;
  if (!conn) return;
  const report = await conn.getStats();
  if (conn !== pc) return;
  const next = new Map();
  const outbound = [];
  report.forEach((s) => {
    if (s.type !== 'outbound-rtp' || s.kind !== 'video') return;
    const now = { at: s.timestamp, bytes: s.bytesSent || 0, ...latencyTotals(s) };
    const p = prev.get(s.id);
    const seconds = p ? (now.at - p.at) / 1000 : 0;
    next.set(s.id, now);
    outbound.push({
      rid: s.rid ?? null,
      frameWidth: s.frameWidth || 0,
      framesEncoded: s.framesEncoded || 0,
      keyFramesEncoded: s.keyFramesEncoded || 0,
      pliCount: s.pliCount || 0, // keyframe requests from the server
      kbps: seconds > 0 ? Math.round(((now.bytes - p.bytes) * 8) / 1000 / seconds) : 0,
      qualityLimitationReason: s.qualityLimitationReason ?? null,
      encoderImplementation: s.encoderImplementation ?? null,
      ...latencyPerFrame(now, p),
    });
  });
  outbound.sort((a, b) => (RID_ORDER[a.rid] ?? 9) - (RID_ORDER[b.rid] ?? 9));
  prev = next;
  state.outbound = outbound;
}

// isActive: publishing, trying to, or waiting to retry.
function isActive() {
  return state.state === 'connecting' || state.state === 'live' || retryTimer !== 0;
}

const labels = { connecting: 'connecting', live: 'live', error: 'error', stopped: 'stopped' };

function render() {
  const badge = $('status');
  badge.textContent = labels[state.state];
  badge.dataset.state = state.state;
  let message = state.error || '';
  if (retryTimer) {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    message += `${message ? ' · ' : ''}retrying in ${seconds} s`;
  }
  $('message').textContent = message;
  $('toggle').textContent = isActive() ? 'Stop' : 'Start';
  const rows = state.outbound.map((o) => {
    const tr = document.createElement('tr');
    for (const v of [o.rid ?? '–', o.frameWidth || '–', o.framesEncoded, o.kbps, o.qualityLimitationReason ?? '–']) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  });
  $('encodings').replaceChildren(...rows);
  const impl = state.outbound.find((o) => o.encoderImplementation)?.encoderImplementation;
  $('encoder').textContent = impl ? `encoder: ${impl}` : '';
}

function start() {
  $('room').textContent = room || '?';
  if (!room) {
    setState('error', 'invalid room name: use 1-64 letters, digits, _ or -');
    return;
  }
  document.title = `Publish ${room} · Glint`;
  $('simulcast').textContent = simulcast ? 'l / m / h' : 'off';
  $('codec').textContent = codec || 'browser default';
  $('watch-link').href = apiURL(`watch/${room}`).href; // without ?token=: the link is for sharing
  $('toggle').addEventListener('click', () => {
    if (isActive()) {
      stop();
      setState('stopped');
    } else {
      publish();
    }
  });
  addEventListener('pagehide', () => stop(true));
  setupTestEvents({ room, token, form: $('test-event'), type: $('event-type'), text: $('event-text'), status: $('event-status') });
  setInterval(() => sample().catch(() => {}).finally(render), 1000);
  publish();
}

start();
