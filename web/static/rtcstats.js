// rtcstats.js: the watch page's reading of a WebRTC session: getStats() (watch.js samples it
// once a second into window.glintWatch.video / .audio / .latencyMs), the kinds of tracks it
// receives, and the room's tracks as the page lists them.
import { codecName } from './whx.js';

// noVideo and noAudio are the stats of a session before its first sample.
export const noVideo = () => ({
  framesDecoded: 0,
  frameWidth: 0,
  frameHeight: 0,
  framesPerSecond: 0,
  packetsLost: 0,
  freezeCount: 0,
  codec: null,
  kbps: 0,
});
export const noAudio = () => ({ packetsReceived: 0, concealedSamples: 0 });

// readStats reads one getStats() report against the previous sample (null for the first). It
// returns {now, video, audio, latencyMs}: now is the next call's prev ({at, bytes, ...}); video
// and audio are null when the session has no such inbound stream.
export function readStats(report, prev) {
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
  const out = { now, video: null, audio: null, latencyMs: null };
  if (v) {
    now.videoBytes = v.bytesReceived || 0;
    now.jbDelay = v.jitterBufferDelay || 0;
    now.jbCount = v.jitterBufferEmittedCount || 0;
    const seconds = prev ? (now.at - prev.at) / 1000 : 0;
    out.video = {
      framesDecoded: v.framesDecoded || 0,
      frameWidth: v.frameWidth || 0,
      frameHeight: v.frameHeight || 0,
      framesPerSecond: v.framesPerSecond || 0,
      packetsLost: v.packetsLost || 0,
      freezeCount: v.freezeCount || 0,
      codec: codecName(codecs.get(v.codecId)),
      kbps: seconds > 0 ? Math.round(((now.videoBytes - (prev.videoBytes || 0)) * 8) / 1000 / seconds) : 0,
    };
    out.latencyMs = latency(now, prev, pair);
  }
  if (a) out.audio = { packetsReceived: a.packetsReceived || 0, concealedSamples: a.concealedSamples || 0 };
  return out;
}

// latency estimates the network + jitter-buffer delay: the jitter buffer's average delay over the
// last second (the whole session for the first sample) plus half the round-trip time.
function latency(now, prev, pair) {
  const recent = prev && now.jbCount > prev.jbCount;
  const delay = recent ? now.jbDelay - prev.jbDelay : now.jbDelay;
  const count = recent ? now.jbCount - prev.jbCount : now.jbCount;
  if (!count) return null;
  const rtt = pair && pair.currentRoundTripTime ? pair.currentRoundTripTime : 0;
  return Math.round((1000 * delay) / count + (1000 * rtt) / 2);
}

// receivedKinds returns the kinds the answer accepted: a room answers only with the tracks its
// publisher has at that moment.
export function receivedKinds(conn) {
  const kinds = new Set();
  for (const t of conn.getTransceivers()) {
    if (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv') kinds.add(t.receiver.track.kind);
  }
  return kinds;
}

// describeTracks is the publisher's tracks as the page lists them: codec (simulcast layers).
export function describeTracks(tracks) {
  if (!tracks || !tracks.length) return '–';
  return tracks.map((t) => t.codec + (t.layers && t.layers.length > 1 ? ` (${t.layers.join(',')})` : '')).join(', ');
}
