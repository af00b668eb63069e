// watch.js: the WebRTC player (WHEP). It reconnects by itself, follows the room's publisher through
// Server-Sent Events and keeps its latest state in window.glintWatch for tests and tooling.
// The quality menu and the server's statistics of this viewer are in quality.js.
//
// Query parameters: ?token=T sends "Authorization: Bearer T"; ?quality=l|m|h starts with that
// cap on the simulcast layer (the menu changes it).
import { Quality, noServer, qualityFromQuery, renderServer, serverStats, setupMenu } from './quality.js';
import { apiURL, codecName, endSession, exchange, iceServers, roomFromPath } from './whx.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const room = roomFromPath();
const token = new URLSearchParams(location.search).get('token') || undefined;
const whepURL = apiURL(`whep/${room}`);

const noVideo = () => ({ framesDecoded: 0, frameWidth: 0, frameHeight: 0, framesPerSecond: 0, packetsLost: 0, freezeCount: 0, codec: null, kbps: 0 });
const noAudio = () => ({ packetsReceived: 0, concealedSamples: 0 });

// The stats describe the current session: they start from zero again after a reconnection.
const state = (window.glintWatch = {
  state: 'connecting', // 'connecting' | 'live' | 'waiting' | 'error'
  error: null,
  session: null, // the Location of the WHEP session
  video: noVideo(),
  audio: noAudio(),
  latencyMs: null,
  quality: qualityFromQuery(), // 'auto' | 'h' | 'm' | 'l': the menu's choice
  server: noServer(), // GET /api/sessions/{id} of the session: {layer, estimateKbps, paused, ...}
});
const quality = new Quality({
  token,
  initial: state.quality,
  onChange: () => {
    state.quality = quality.value;
    render();
  },
});

let pc = null; // the current peer connection
let resource = null; // absolute URL of the current session
let inFlight = false; // an offer/answer exchange is running
let kickPending = false; // the publisher came back during an exchange: retry at once
let retries = 0;
let retryTimer = 0;
let retryAt = 0;
let lostTimer = 0;
let connectTimer = 0; // a session that is not connected 15 s after its answer is given up
let publisherLive = null; // null until the first 'publisher' event
let prev = null; // previous stats sample, for rates
let resumeCheck = null; // {bytes, at}: set when the publisher returns while we stay connected
let leaving = false; // pagehide: no more attempts
let serverPending = false; // a GET /api/sessions/{id} is running
let publisherKinds = []; // the kinds of the publisher's tracks ('audio', 'video'), from its events
let sessionKinds = null; // the kinds the current session receives (Set), once answered
let redialedFor = ''; // the publisherKinds a reconnection for missing tracks was made for

function setState(s, error = null) {
  state.state = s;
  state.error = error;
  render();
}

// connect starts a new WHEP session, replacing the current one.
async function connect() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  if (inFlight || leaving) return;
  inFlight = true;
  kickPending = false;
  hangUp();
  setState('connecting');
  let conn = null;
  try {
    conn = pc = new RTCPeerConnection({ iceServers: await iceServers(whepURL, token) });
    const stream = new MediaStream();
    conn.addTransceiver('video', { direction: 'recvonly' });
    conn.addTransceiver('audio', { direction: 'recvonly' });
    conn.ontrack = (e) => {
      stream.addTrack(e.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {});
    };
    conn.onconnectionstatechange = () => onConnectionState(conn);
    // The quality cap goes to the server before the answer is applied, so that the first
    // picture is already of the chosen layer (no switch, no second keyframe request).
    const s = await exchange(conn, whepURL, { token, beforeAnswer: (s) => quality.attach(s) });
    if (pc !== conn) {
      endSession(s.resource, { token }); // the page was left meanwhile
      return;
    }
    resource = s.resource;
    state.session = s.location;
    sessionKinds = receivedKinds(conn);
    connectTimer = setTimeout(() => {
      if (conn === pc && conn.connectionState !== 'connected') connectionLost('not connected after 15 s');
    }, 15000);
  } catch (err) {
    if (pc === conn && !leaving) {
      hangUp();
      setState(err.status === 404 ? 'waiting' : 'error', err.message || String(err));
      retryLater();
    }
  } finally {
    inFlight = false;
  }
  if (pc === conn) redialForTracks(); // the publisher's tracks may have changed meanwhile
}

function onConnectionState(conn) {
  if (conn !== pc) return;
  clearTimeout(lostTimer);
  switch (conn.connectionState) {
    case 'connected':
      clearTimeout(connectTimer);
      retries = 0;
      setState(publisherLive === false ? 'waiting' : 'live');
      break;
    case 'disconnected': // often recovers by itself; give it 3 s
      lostTimer = setTimeout(() => conn === pc && connectionLost('connection lost'), 3000);
      break;
    case 'failed':
      connectionLost('connection failed');
      break;
  }
}

function connectionLost(reason) {
  hangUp();
  setState('error', reason);
  retryLater();
}

// hangUp closes the current connection and ends its session on the server.
function hangUp(keepalive = false) {
  clearTimeout(lostTimer);
  clearTimeout(connectTimer);
  if (resource) endSession(resource, { token, keepalive });
  if (pc) pc.close();
  pc = null;
  resource = null;
  sessionKinds = null;
  quality.detach();
  state.session = null;
  state.server = noServer();
  state.video = noVideo();
  state.audio = noAudio();
  state.latencyMs = null;
  prev = null;
  resumeCheck = null;
}

// retryLater schedules the next attempt: 1 s, 2 s, 4 s, then every 5 s.
function retryLater() {
  const delay = kickPending ? 0 : Math.min(1000 * 2 ** retries, 5000);
  retries++;
  retryAt = Date.now() + delay;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

// kick reconnects now unless a session is connected or being set up.
function kick() {
  if (inFlight) kickPending = true;
  else if (!pc || pc.connectionState !== 'connected') connect();
}

// receivedKinds returns the kinds the answer accepted: a room answers only with the tracks its
// publisher has at that moment.
function receivedKinds(conn) {
  const kinds = new Set();
  for (const t of conn.getTransceivers()) {
    if (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv') kinds.add(t.receiver.track.kind);
  }
  return kinds;
}

// redialForTracks reconnects when the publisher has a kind of track the session lacks: a
// viewer that joined between the publisher's first track (when the room goes live) and its
// others has, e.g., audio only. Once per change of the publisher's tracks, so it cannot loop.
function redialForTracks() {
  if (!sessionKinds || !publisherLive || inFlight) return;
  if (publisherKinds.every((k) => sessionKinds.has(k))) {
    redialedFor = '';
    return;
  }
  const key = publisherKinds.join(',');
  if (key === redialedFor) return;
  redialedFor = key;
  console.info(`the publisher now sends ${key}: reconnecting to receive it all`);
  connect();
}

function followPublisher() {
  const events = new EventSource(apiURL(`api/rooms/${room}/events`));
  events.addEventListener('publisher', (e) => {
    const p = JSON.parse(e.data);
    const wasLive = publisherLive;
    publisherLive = !!p.live;
    $('publisher').textContent = publisherLive ? 'live' : 'offline';
    $('tracks').textContent = describeTracks(p.tracks);
    publisherKinds = [...new Set((p.tracks || []).map((t) => t.kind))].sort();
    if (!publisherLive && state.state === 'live') setState('waiting');
    if (publisherLive && wasLive !== true) {
      if (pc && pc.connectionState === 'connected') {
        setState('live');
        resumeCheck = { bytes: prev ? prev.bytes : null, at: Date.now() };
      } else {
        kick();
      }
    }
    redialForTracks();
  });
  events.addEventListener('viewers', (e) => {
    $('viewers').textContent = String(JSON.parse(e.data).viewers);
  });
  events.onerror = () => {
    // EventSource retries by itself unless the server refused the stream (e.g. 404).
    if (events.readyState === EventSource.CLOSED) setTimeout(followPublisher, 5000);
  };
}

function describeTracks(tracks) {
  if (!tracks || !tracks.length) return '–';
  return tracks.map((t) => t.codec + (t.layers && t.layers.length > 1 ? ` (${t.layers.join(',')})` : '')).join(', ');
}

// sample reads getStats() once a second into window.glintWatch.
async function sample() {
  const conn = pc;
  if (!conn || conn.connectionState !== 'connected') return;
  const report = await conn.getStats();
  if (conn !== pc) return;
  let v = null;
  let a = null;
  let pair = null;
  const codecs = new Map();
  report.forEach((s) => {
    if (s.type === 'codec') codecs.set(s.id, s.mimeType);
    else if (s.type === 'inbound-rtp' && s.kind === 'video') v = s;
    else if (s.type === 'inbound-rtp' && s.kind === 'audio') a = s;
    else if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  const now = { at: performance.now(), bytes: (v?.bytesReceived || 0) + (a?.bytesReceived || 0) };
  if (v) {
    now.videoBytes = v.bytesReceived || 0;
    now.jbDelay = v.jitterBufferDelay || 0;
    now.jbCount = v.jitterBufferEmittedCount || 0;
    const seconds = prev ? (now.at - prev.at) / 1000 : 0;
    Object.assign(state.video, {
      framesDecoded: v.framesDecoded || 0,
      frameWidth: v.frameWidth || 0,
      frameHeight: v.frameHeight || 0,
      framesPerSecond: v.framesPerSecond || 0,
      packetsLost: v.packetsLost || 0,
      freezeCount: v.freezeCount || 0,
      codec: codecName(codecs.get(v.codecId)),
      kbps: seconds > 0 ? Math.round(((now.videoBytes - prev.videoBytes) * 8) / 1000 / seconds) : 0,
    });
    state.latencyMs = latency(now, pair);
  }
  if (a) {
    state.audio.packetsReceived = a.packetsReceived || 0;
    state.audio.concealedSamples = a.concealedSamples || 0;
  }
  checkResumed(now);
  prev = now;
}

// sampleServer reads the server's statistics of the current session into window.glintWatch.
async function sampleServer() {
  const location = state.session;
  if (!location || serverPending) return;
  serverPending = true;
  try {
    const s = await serverStats(location);
    if (state.session === location) state.server = s;
  } catch {
    if (state.session === location) state.server = noServer();
  } finally {
    serverPending = false;
  }
}

// latency estimates the network + jitter-buffer delay: the jitter buffer's average delay over the
// last second (the whole session for the first sample) plus half the round-trip time.
function latency(now, pair) {
  const recent = prev && now.jbCount > prev.jbCount;
  const delay = recent ? now.jbDelay - prev.jbDelay : now.jbDelay;
  const count = recent ? now.jbCount - prev.jbCount : now.jbCount;
  if (!count) return null;
  const rtt = pair && pair.currentRoundTripTime ? pair.currentRoundTripTime : 0;
  return Math.round((1000 * delay) / count + (1000 * rtt) / 2);
}

// checkResumed reconnects when the publisher came back but no media arrived within 4 s (e.g. it
// returned with other codecs, which the server cannot switch an existing session to).
function checkResumed(now) {
  if (!resumeCheck) return;
  if (resumeCheck.bytes === null) resumeCheck.bytes = now.bytes;
  else if (now.bytes > resumeCheck.bytes) resumeCheck = null;
  else if (Date.now() - resumeCheck.at > 4000) connect();
}

const labels = { connecting: 'connecting', live: 'live', waiting: 'waiting for publisher', error: 'error' };

function render() {
  const badge = $('status');
  badge.textContent = labels[state.state];
  badge.dataset.state = state.state;
  let message = state.error || '';
  if (retryTimer && state.state !== 'live') {
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    message += `${message ? ' · ' : ''}retrying in ${seconds} s`;
  }
  $('message').textContent = message;
  const s = state.video;
  const dash = (x) => (x === null || x === undefined ? '–' : String(x));
  $('s-latency').textContent = state.latencyMs === null ? '–' : `${state.latencyMs} ms`;
  $('s-kbps').textContent = `${s.kbps} kbit/s`;
  $('s-resolution').textContent = s.frameWidth ? `${s.frameWidth}×${s.frameHeight}` : '–';
  $('s-fps').textContent = dash(s.framesPerSecond);
  $('s-frames').textContent = dash(s.framesDecoded);
  $('s-lost').textContent = dash(s.packetsLost);
  $('s-freezes').textContent = dash(s.freezeCount);
  $('s-codec').textContent = dash(s.codec);
  renderServer($, state.server, quality);
}

function setupUnmute() {
  const button = $('unmute');
  const update = () => (button.textContent = video.muted ? 'Unmute' : 'Mute');
  button.addEventListener('click', () => {
    video.muted = !video.muted;
    video.play().catch(() => {});
    update();
  });
  video.addEventListener('volumechange', update);
}

function start() {
  $('room').textContent = room || '?';
  setupUnmute();
  setupMenu($('quality'), quality);
  if (!room) {
    setState('error', 'invalid room name: use 1-64 letters, digits, _ or -');
    return;
  }
  document.title = `${room} · Glint`;
  addEventListener('pagehide', () => {
    leaving = true;
    clearTimeout(retryTimer);
    retryTimer = 0;
    hangUp(true);
  });
  const tick = () => Promise.all([sample().catch(() => {}), sampleServer()]).finally(render);
  setInterval(tick, 1000);
  followPublisher();
  connect();
}

start();
