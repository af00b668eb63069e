// watch.js: the player. WebRTC (WHEP) first: it reconnects by itself, follows the room's publisher
// through Server-Sent Events and keeps its latest state in window.glintWatch for tests and tooling.
// When WebRTC fails (no RTCPeerConnection, the offer refused for another reason than "room not
// live", ICE/DTLS failure, no media 10 s after connecting) the page falls back to LL-HLS
// (hlsplayer.js) if the server serves the room that way. The quality menu and the server's
// statistics of this viewer are in quality.js; getStats() is read by rtcstats.js.
//
// Query parameters: ?token=T sends "Authorization: Bearer T"; ?quality=l|m|h starts with that
// cap on the simulcast layer (or that LL-HLS level; the menu changes it); ?mode=webrtc plays
// over WebRTC only, ?mode=hls over LL-HLS only, none (auto) WebRTC with the fallback (the
// mode menu changes it). In LL-HLS mode dvr.js adds the DVR controls (seek bar, pause, live,
// start over, clip) and the room's recordings; ?recording=ID plays one recording (LL-HLS mode),
// ?t=RFC3339 from that wall-clock time. ?nodes=URL,URL lists other nodes of a cluster to move to
// when this one is lost or drains (failover.js; GET /api/nodes and drain events add more).
import { DVR } from './dvr.js';
import { renderEvents, startEvents } from './events.js';
import { Failover } from './failover.js';
import { HLSPlayer, noHLS, renderHLS } from './hlsplayer.js';
import { hlsUnavailable, modeFromQuery, setupModeMenu } from './mode.js';
import { Quality, noServer, qualityFromQuery, renderServer, serverStats, setupMenu } from './quality.js';
import { describeTracks, noAudio, noVideo, readStats, receivedKinds } from './rtcstats.js';
import { pageToken, withToken } from './token.js';
import { WebRTCSync, relayConfig, renderSync } from './sync.js';
import { apiURL, authHeaders, endSession, exchange, iceServers, roomFromPath } from './whx.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const room = roomFromPath();
const token = pageToken;
const failover = new Failover();
const whepURL = () => failover.url(`whep/${room}`); // on the node the page plays from now
const hlsURL = withToken(apiURL(`hls/${room}/index.m3u8`));
const NO_MEDIA_MS = 10000; // connected without any media for this long: WebRTC failed

// The stats describe the current session: they start from zero again after a reconnection.
const state = (window.glintWatch = {
  state: 'connecting', // 'connecting' | 'live' | 'waiting' | 'reconnecting' | 'error'
  error: null,
  node: failover.current, // the node the page plays from (failover.js)
  moves: 0, // how many times the page moved to another node
  session: null, // the Location of the WHEP session
  video: noVideo(),
  audio: noAudio(),
  latencyMs: null,
  quality: qualityFromQuery(), // 'auto' | 'h' | 'm' | 'l': the menu's choice
  server: noServer(), // GET /api/sessions/{id} of the session: {layer, estimateKbps, paused, ...}
  // 'auto' | 'webrtc' | 'hls': the mode menu's choice (a recording plays over LL-HLS only)
  modeChoice: new URLSearchParams(location.search).has('recording') ? 'hls' : modeFromQuery(),
  mode: 'webrtc', // what plays now: 'webrtc' | 'hls'
  fallback: null, // why auto mode fell back to LL-HLS
  hls: noHLS(), // LL-HLS playback (hlsplayer.js): latency, glassToGlassMs, bufferS, level, ...
  dvr: null, // the DVR controls (dvr.js): source, playingDate, window, clip, recordings
});
const quality = new Quality({
  token,
  initial: state.quality,
  onChange: () => {
    state.quality = quality.value;
    if (hlsPlayer) hlsPlayer.setQuality(quality.value);
    render();
  },
});

let pc = null; // the current peer connection
let resource = null; // absolute URL of the current session
let inFlight = false; // an offer/answer exchange is running
let kickPending = false; // the publisher came back during an exchange: retry at once
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
let connectedAt = 0; // when the current session connected (0: not yet), for the no-media check
let fallingBack = false; // giveUp is checking whether LL-HLS can take over
let hlsPlayer = null; // the LL-HLS player while state.mode is 'hls'
const dvr = new DVR({ $, room, token, state, video, player: () => hlsPlayer });
const sync = new WebRTCSync({ room, video, state }); // state.sync: latency mode, delay, error

function setState(s, error = null) {
  state.state = s;
  state.error = error;
  render();
}

// connect starts a new WHEP session, replacing the current one.
async function connect() {
  clearTimeout(retryTimer);
  retryTimer = 0;
  if (inFlight || leaving || fallingBack || state.mode !== 'webrtc') return;
  inFlight = true;
  kickPending = false;
  hangUp();
  setState('connecting');
  let conn = null;
  try {
    state.node = failover.current;
    conn = pc = new RTCPeerConnection(relayConfig() || { iceServers: await iceServers(whepURL(), token) });
    const stream = new MediaStream();
    conn.addTransceiver('video', { direction: 'recvonly' });
    conn.addTransceiver('audio', { direction: 'recvonly' });
    sync.attach(conn);
    conn.ontrack = (e) => {
      stream.addTrack(e.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => {});
    };
    conn.onconnectionstatechange = () => onConnectionState(conn);
    // The quality cap goes to the server before the answer is applied, so that the first
    // picture is already of the chosen layer (no switch, no second keyframe request).
    const s = await exchange(conn, whepURL(), { token, transformAnswer: (sdp) => sync.answer(sdp), beforeAnswer: (s) => quality.attach(s) });
    if (pc !== conn) {
      endSession(s.resource, { token }); // the page was left meanwhile
      return;
    }
    resource = s.resource;
    state.session = s.location;
    sessionKinds = receivedKinds(conn);
    connectTimer = setTimeout(() => {
      if (conn === pc && conn.connectionState !== 'connected') giveUp('not connected after 15 s');
    }, 15000);
  } catch (err) {
    if (pc === conn && !leaving) {
      hangUp();
      if (err.status === 404) {
        setState('waiting', err.message); // the room is not live (yet): keep asking
        retryLater();
      } else if (err.status === 503 || (err.status === undefined && err instanceof TypeError)) {
        moveNode(`node unavailable: ${err.message}`); // draining, shutting down, or gone
      } else {
        giveUp(err.message || String(err));
      }
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
      failover.connected();
      connectedAt ||= Date.now();
      setState(publisherLive === false ? 'waiting' : 'live');
      break;
    case 'disconnected': // often recovers by itself; give it 3 s unless the node is gone
      lostTimer = setTimeout(() => conn === pc && connectionLost('connection lost'), 3000);
      checkNode();
      break;
    case 'failed': // ICE or DTLS failed: the path or the browser's WebRTC does not work
      if (connectedAt) connectionLost('connection failed');
      else giveUp('connection failed (ICE/DTLS)');
      break;
  }
}

function connectionLost(reason) {
  moveNode(reason);
}

// moveNode drops the current session and plays again from the next node (the same URL when the
// page knows no other), after the failover backoff; the event stream moves along.
function moveNode(reason, delay = failover.move(reason)) {
  hangUp();
  state.moves = failover.moves;
  setState('reconnecting', reason);
  followPublisher();
  clearTimeout(retryTimer);
  retryAt = Date.now() + delay;
  retryTimer = setTimeout(connect, delay);
}

let probing = false;

// checkNode moves to another node at once when the current one does not answer /healthz (its
// event stream broke, or the WebRTC connection went quiet): a dead node, not a network blip.
async function checkNode() {
  if (probing || leaving || state.mode !== 'webrtc' || state.state === 'reconnecting') return;
  probing = true;
  const node = failover.current;
  const alive = await failover.alive();
  probing = false;
  if (!alive && node === failover.current && !leaving) moveNode('node unreachable');
}

// giveUp ends a WebRTC attempt that failed in a way retrying rarely mends. In auto mode the page
// falls back to LL-HLS when it can play it and the server serves the room that way; otherwise it
// retries WebRTC.
async function giveUp(reason) {
  hangUp();
  setState('error', reason);
  if (state.modeChoice !== 'auto' || fallingBack) {
    retryLater();
    return;
  }
  fallingBack = true;
  const why = await hlsUnavailable(video, hlsURL);
  fallingBack = false;
  if (leaving || state.mode !== 'webrtc') return;
  if (why) {
    setState('error', `${reason} · no LL-HLS fallback: ${why}`);
    retryLater();
    return;
  }
  console.warn(`WebRTC failed (${reason}): falling back to LL-HLS`);
  switchMode('hls', reason);
}

// switchMode stops what plays and starts mode ('webrtc' | 'hls'); fallback is why auto mode
// left WebRTC (null when the viewer chose).
function switchMode(mode, fallback = null) {
  clearTimeout(retryTimer);
  retryTimer = 0;
  hangUp();
  if (hlsPlayer) hlsPlayer.stop();
  hlsPlayer = null;
  state.mode = mode;
  state.fallback = fallback;
  state.hls = noHLS();
  video.srcObject = null;
  const { url, live } = dvr.initialSource(); // the live edge, or ?recording=
  if (mode === 'webrtc') {
    failover.connected();
    connect();
    return;
  }
  const player = (hlsPlayer = new HLSPlayer({
    video,
    url,
    state,
    onChange: (s, error = null) => player === hlsPlayer && setState(s, error),
  }));
  player.live = live;
  player.start(quality.value).catch((err) => player === hlsPlayer && setState('error', err.message || String(err)));
}

// hangUp closes the current connection and ends its session on the server.
function hangUp(keepalive = false) {
  clearTimeout(lostTimer);
  clearTimeout(connectTimer);
  if (resource) endSession(resource, { token, keepalive });
  if (pc) pc.close();
  pc = null;
  sync.detach();
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
  connectedAt = 0;
}

// retryLater schedules the next attempt on the same node: 250 ms, 500 ms, 1 s, 2 s, 4 s, then
// every 5 s (failover.js).
function retryLater() {
  const delay = kickPending ? 0 : failover.delay();
  retryAt = Date.now() + delay;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

// kick reconnects now unless a session is connected or being set up.
function kick() {
  if (state.mode !== 'webrtc') return;
  if (inFlight) kickPending = true;
  else if (!pc || pc.connectionState !== 'connected') connect();
}

// redialForTracks reconnects when the publisher has a kind of track the session lacks: a
// viewer that joined between the publisher's first track (when the room goes live) and its
// others has, e.g., audio only. Once per change of the publisher's tracks, so it cannot loop.
function redialForTracks() {
  if (!sessionKinds || !publisherLive || inFlight || state.mode !== 'webrtc') return;
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

let events = null; // the room's event stream, from the node the page plays from

function followPublisher() {
  if (events) events.close();
  const stream = (events = new EventSource(withToken(failover.url(`api/rooms/${room}/events`))));
  events.addEventListener('publisher', (e) => {
    const p = JSON.parse(e.data);
    const wasLive = publisherLive;
    publisherLive = !!p.live;
    $('publisher').textContent = publisherLive ? 'live' : 'offline';
    $('tracks').textContent = describeTracks(p.tracks);
    publisherKinds = [...new Set((p.tracks || []).map((t) => t.kind))].sort();
    if (!publisherLive && state.state === 'live' && state.dvr.source === 'live') setState('waiting');
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
  events.addEventListener('drain', (e) => {
    if (state.mode === 'webrtc') moveNode('node draining', failover.drained(JSON.parse(e.data).nodes));
  });
  events.onerror = () => {
    if (stream !== events) return;
    checkNode(); // a broken stream is the first sign of a node that died
    // EventSource retries by itself unless the server refused the stream (e.g. 404).
    if (stream.readyState === EventSource.CLOSED) setTimeout(() => stream === events && followPublisher(), 5000);
  };
}

// sample reads getStats() once a second into window.glintWatch.
async function sample() {
  const conn = pc;
  if (!conn || conn.connectionState !== 'connected') return;
  const report = await conn.getStats();
  if (conn !== pc) return;
  const { now, video: v, audio: a, latencyMs } = readStats(report, prev);
  if (v) {
    Object.assign(state.video, v);
    state.latencyMs = latencyMs;
  }
  if (a) Object.assign(state.audio, a);
  checkResumed(now);
  prev = now;
  if (now.bytes > 0) connectedAt = -1; // media flowed: no more no-media check for this session
  else if (connectedAt > 0 && publisherLive !== false && Date.now() - connectedAt > NO_MEDIA_MS) {
    giveUp(`connected but no media within ${NO_MEDIA_MS / 1000} s`);
  }
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

// checkResumed reconnects when the publisher came back but no media arrived within 4 s (e.g. it
// returned with other codecs, which the server cannot switch an existing session to).
function checkResumed(now) {
  if (!resumeCheck) return;
  if (resumeCheck.bytes === null) resumeCheck.bytes = now.bytes;
  else if (now.bytes > resumeCheck.bytes) resumeCheck = null;
  else if (Date.now() - resumeCheck.at > 4000) connect();
}

const labels = {
  connecting: 'connecting',
  live: 'live',
  waiting: 'waiting for publisher',
  reconnecting: 'reconnecting',
  error: 'error',
};
const modeNames = { webrtc: 'WebRTC', hls: 'LL-HLS' };

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
  const mode = modeNames[state.mode] + (state.hls.engine === 'native' ? ' (native)' : '');
  $('s-mode').textContent = state.fallback ? `${mode}, WebRTC failed: ${state.fallback}` : mode;
  if ($('mode').value !== state.modeChoice) $('mode').value = state.modeChoice;
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
  renderHLS($, state.hls);
  renderEvents($, state.events);
  renderSync($, state.sync);
  dvr.render();
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
  dvr.setup();
  setupMenu($('quality'), quality);
  setupModeMenu($('mode'), state.modeChoice, (choice) => {
    state.modeChoice = choice;
    const mode = choice === 'hls' ? 'hls' : 'webrtc';
    if (mode !== state.mode || state.fallback) switchMode(mode);
    else render();
  });
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
    if (hlsPlayer) hlsPlayer.stop();
  });
  const tick = () => {
    try {
      if (hlsPlayer) hlsPlayer.sample();
      dvr.sample();
    } catch (err) {
      console.warn(`LL-HLS stats: ${err.message}`);
    }
    return Promise.all([sample().catch(() => {}), sampleServer()]).finally(render);
  };
  setInterval(tick, 1000);
  startEvents({ room, video, state, player: () => (state.mode === 'hls' ? hlsPlayer : null), peer: () => pc });
  followPublisher();
  failover.discover(authHeaders(token));
  if (state.modeChoice === 'hls') switchMode('hls');
  else if (typeof RTCPeerConnection === 'undefined') giveUp('this browser has no WebRTC (RTCPeerConnection)');
  else connect();
}

start();
