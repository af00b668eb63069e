// frametimes.js: where a WebRTC viewer's capture → screen delay goes, frame by frame
// (docs/latency.md). sync.js hands it every presented video frame (requestVideoFrameCallback):
// it keeps the frame's capture instant (abs-capture-time, on the server's clock) and the
// instants the browser gives on the page's clock: last packet received (receiveTime), handed
// to the compositor (presentationTime) and expected on screen (expectedDisplayTime). Each
// period it sums them up with the video receiver's getStats (jitter buffer, decode and
// processing time per frame) into a breakdown of the delay. The records let two pages compare
// the display instants of the same captured frame (the e2e tests' viewer-to-viewer spread).

const KEEP_FRAMES = 90; // 3 s at 30 fps: each once-a-second sample holds every frame since the last

const round1 = (x) => Math.round(x * 10) / 10;

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};

// trimmedMean is the mean of xs without its highest and lowest tenth (at least one of each from
// five values on): display instants fall on the compositor's frame grid, so a mean of a
// period's frames is finer than their median, and a frame held up by a stall is left out.
export const trimmedMean = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const cut = s.length >= 5 ? Math.max(1, Math.floor(s.length / 10)) : 0;
  const kept = s.slice(cut, s.length - cut);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
};

// noBreakdown is the breakdown before a period has been summed up. Every field is a median or an
// average per frame over the last period, in ms.
export const noBreakdown = () => ({
  captureToReceiveMs: null, // capture → last packet of the frame received: encode, pacing, network, Glint
  receiveToPresentMs: null, // → handed to the compositor: jitter buffer, decode, queueing
  presentToDisplayMs: null, // → expected on screen (the compositor's next frames)
  jitterBufferMs: null, // getStats: jitterBufferDelay per emitted frame
  decodeMs: null, // getStats: totalDecodeTime per decoded frame
  processingMs: null, // getStats: totalProcessingDelay per decoded frame (first packet → decoded)
  assemblyMs: null, // getStats: totalAssemblyTime per frame assembled from several packets
});

// FrameTimes keeps the recent presented frames and the current period's timings.
export class FrameTimes {
  constructor() {
    this.frames = []; // {c: capture (server clock), r: receive, p: presentation, d: expected display (page clock)}
    this.period = [];
    this.prevStats = null;
  }

  reset() {
    this.frames = [];
    this.period = [];
    this.prevStats = null;
  }

  // add records one presented frame: meta is the rVFC metadata, captureMs the frame's capture
  // instant on the server clock, timeOrigin the page clock's origin (performance.timeOrigin).
  add(meta, captureMs, timeOrigin) {
    const f = {
      c: round1(captureMs),
      r: meta.receiveTime === undefined ? null : round1(timeOrigin + meta.receiveTime),
      p: round1(timeOrigin + meta.presentationTime),
      d: round1(timeOrigin + meta.expectedDisplayTime),
    };
    this.frames.push(f);
    if (this.frames.length > KEEP_FRAMES) this.frames.shift();
    this.period.push(f);
    return f;
  }

  // summarize returns the breakdown of the period ended now (offsetMs: server − page clock) and
  // starts the next one; stats is the video inbound-rtp of a getStats() report taken now, if any.
  summarize(offsetMs, stats) {
    const fs = this.period;
    this.period = [];
    const withReceive = fs.filter((f) => f.r !== null);
    const out = noBreakdown();
    if (withReceive.length) {
      out.captureToReceiveMs = round1(median(withReceive.map((f) => f.r + offsetMs - f.c)));
      out.receiveToPresentMs = round1(median(withReceive.map((f) => f.p - f.r)));
    }
    if (fs.length) out.presentToDisplayMs = round1(median(fs.map((f) => f.d - f.p)));
    if (stats) Object.assign(out, this.perFrame(stats));
    return out;
  }

  // perFrame turns the growth of the receiver's cumulative counters since the last call into
  // averages per frame.
  perFrame(r) {
    const p = this.prevStats || {};
    this.prevStats = r;
    const avg = (sumKey, countKey) => {
      const n = (r[countKey] || 0) - (p[countKey] || 0);
      return n > 0 ? round1((1000 * ((r[sumKey] || 0) - (p[sumKey] || 0))) / n) : null;
    };
    return {
      jitterBufferMs: avg('jitterBufferDelay', 'jitterBufferEmittedCount'),
      decodeMs: avg('totalDecodeTime', 'framesDecoded'),
      processingMs: avg('totalProcessingDelay', 'framesDecoded'),
      assemblyMs: avg('totalAssemblyTime', 'framesAssembledFromMultiplePackets'),
    };
  }
}
