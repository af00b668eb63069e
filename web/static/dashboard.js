// dashboard.js: the operator's dashboard. Polls GET /api/dashboard every 2 s (every node of
// the cluster in one report) and turns its cumulative counters into rates and means between
// two polls: latency, bitrate and CPU plots, the rooms and nodes tables, recent errors.
import { apiURL } from './whx.js';
import { Plot, format } from './plot.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;

const plots = {
  latency: new Plot($('plot-latency'), $('legend-latency')),
  bitrate: new Plot($('plot-bitrate'), $('legend-bitrate')),
  cpu: new Plot($('plot-cpu'), $('legend-cpu')),
};

let previous = null; // the last report, for rates

// rate is (b - a) per second over dt seconds, null when unknown or reset.
function rate(a, b, dt) {
  if (a === undefined || b === undefined || dt <= 0 || b < a) return null;
  return (b - a) / dt;
}

// meanMs is the mean latency in ms between two cumulative {count, sum_seconds}.
function meanMs(a, b) {
  if (!a || !b || b.count <= a.count) return null;
  return ((b.sum_seconds - a.sum_seconds) / (b.count - a.count)) * 1000;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function badge(live) {
  const td = document.createElement('td');
  const b = document.createElement('span');
  b.className = 'badge';
  b.dataset.state = live ? 'live' : 'waiting';
  b.textContent = live ? 'live' : 'offline';
  td.append(b);
  return td;
}

function layers(l) {
  const parts = Object.entries(l || {}).sort().map(([k, v]) => `${k}: ${v}`);
  return parts.length ? parts.join(', ') : '–';
}

function speed(t) {
  if (!t || !(t.load > 0)) return '–';
  return `×${format(1 / t.load)}${t.dropped_rungs ? ` (${t.dropped_rungs} dropped)` : ''}`;
}

function rungs(t) {
  if (!t || !t.rungs.length) return '–';
  return t.rungs.map((r) => r.name + (r.active ? '' : ' ✕')).join(', ');
}

function publisher(p) {
  if (!p) return '–';
  return [p.protocol, p.video, p.audio].filter(Boolean).join(' · ');
}

function byKey(report) {
  const m = new Map();
  for (const n of report.nodes) {
    m.set(n.node, n);
    for (const r of n.rooms) m.set(`${n.node}/${r.room}`, r);
  }
  return m;
}

function render(report) {
  const prev = previous ? byKey(previous) : new Map();
  const many = report.nodes.length > 1;
  const lat = {}, bits = {}, cpu = {};
  const roomRows = [], nodeRows = [], errors = [];
  for (const n of report.nodes) {
    const p = prev.get(n.node);
    const dt = p ? (Date.parse(n.time) - Date.parse(p.time)) / 1000 : 0;
    const tag = (s) => (many ? `${n.node} ${s}` : s);
    if (p) {
      lat[tag('WebRTC transit')] = meanMs(p.latency.transit, n.latency.transit);
      lat[tag('capture→server')] = meanMs(p.latency.capture_to_server, n.latency.capture_to_server);
      lat[tag('capture→LL-HLS part')] = meanMs(p.latency.hls_part, n.latency.hls_part);
      bits[tag('in')] = (rate(p.totals.rtp_bytes_in, n.totals.rtp_bytes_in, dt) ?? NaN) * 8 / 1e6;
      bits[tag('out')] = (rate(p.totals.rtp_bytes_out, n.totals.rtp_bytes_out, dt) ?? NaN) * 8 / 1e6;
      cpu[tag('cpu')] = (rate(p.load.cpu_seconds, n.load.cpu_seconds, dt) ?? NaN) * 100;
    }
    for (const r of n.rooms) {
      const pr = prev.get(`${n.node}/${r.room}`);
      const inRate = pr ? rate(pr.rtp_bytes_in, r.rtp_bytes_in, dt) : null;
      const tr = document.createElement('tr');
      tr.dataset.room = r.room;
      tr.append(cell(n.node), cell(r.room), badge(r.live), cell(publisher(r.publisher)),
        cell(String(r.viewers.webrtc)), cell(layers(r.layers)), cell(String(r.viewers.hls)),
        cell(inRate === null ? '–' : format((inRate * 8) / 1e6)), cell(speed(r.transcoder)), cell(rungs(r.transcoder)));
      roomRows.push(tr);
    }
    const cpuNow = p ? rate(p.load.cpu_seconds, n.load.cpu_seconds, dt) : null;
    const tr = document.createElement('tr');
    tr.append(cell(n.node), cell(cpuNow === null ? '–' : `${format(cpuNow * 100)} %`), cell(String(n.load.cores)),
      cell(String(n.load.goroutines)), cell(`${format(n.load.heap_bytes / 1048576)} MiB`),
      cell(`${n.totals.live_rooms} live / ${n.totals.rooms}`), cell(String(n.totals.publishers)),
      cell(`${n.totals.webrtc_viewers} / ${n.totals.hls_viewers}`),
      cell(n.encoder.name ? `${n.encoder.name}${n.encoder.hardware ? ' (hw)' : ''}` : '–'));
    nodeRows.push(tr);
    for (const e of n.errors) errors.push({ node: n.node, ...e });
  }
  const t = Date.parse(report.time);
  plots.latency.push(t, lat);
  plots.bitrate.push(t, bits);
  plots.cpu.push(t, cpu);
  $('rooms').replaceChildren(...roomRows);
  $('nodes').replaceChildren(...nodeRows);
  renderErrors(errors);
  renderSummary(report);
  renderCluster(report.cluster || []);
}

// renderCluster lists every node of the cluster's registry with the load of its heartbeat.
function renderCluster(nodes) {
  $('cluster-section').hidden = nodes.length === 0;
  $('cluster').replaceChildren(...nodes.map((n) => {
    const tr = document.createElement('tr');
    const l = n.load || {};
    tr.append(cell(n.id), cell(n.url), cell(`${format((l.cpu || 0) * 100)} %`), cell(String(l.cores || 0)),
      cell(String(l.rooms || 0)), cell(String(l.viewers || 0)), cell(`${format((l.egress_bits || 0) / 1e6)} Mbit/s`),
      cell(String(l.transcodes || 0)), cell(new Date(n.seen).toLocaleTimeString()));
    return tr;
  }));
}

function renderSummary(report) {
  let rooms = 0, live = 0, pubs = 0, webrtc = 0, hls = 0;
  for (const n of report.nodes) {
    rooms += n.totals.rooms;
    live += n.totals.live_rooms;
    pubs += n.totals.publishers;
    webrtc += n.totals.webrtc_viewers;
    hls += n.totals.hls_viewers;
  }
  const items = [['nodes', report.nodes.length], ['rooms', `${live} live / ${rooms}`], ['publishers', pubs],
    ['WebRTC viewers', webrtc], ['LL-HLS players', hls]];
  $('summary').replaceChildren(...items.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = String(v);
    return [dt, dd];
  }));
}

function renderErrors(errors) {
  errors.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  const items = errors.slice(0, 50).map((e) => {
    const li = document.createElement('li');
    li.dataset.level = e.level;
    const attrs = Object.entries(e.attrs || {}).map(([k, v]) => `${k}=${v}`).join(' ');
    li.textContent = `${new Date(e.time).toLocaleTimeString()} ${e.node} ${e.level} ${e.msg} ${attrs}`;
    return li;
  });
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'none';
    items.push(li);
  }
  $('errors').replaceChildren(...items);
}

async function poll() {
  const message = $('dash-message');
  try {
    const res = await fetch(apiURL('api/dashboard'), { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).trim()}`);
    const report = await res.json();
    render(report);
    previous = report;
    message.textContent = `updated ${new Date(report.time).toLocaleTimeString()}`;
    message.className = 'muted';
  } catch (err) {
    message.textContent = `dashboard unavailable: ${err.message}`;
    message.className = 'error';
  }
}

poll();
setInterval(poll, POLL_MS);
