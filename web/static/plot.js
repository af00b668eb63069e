// plot.js: a small live line plot on an SVG element (no dependencies): a fixed window of the
// latest points per series, drawn as polylines with a scale that fits the largest value.

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#6ea8fe', '#3ecf6e', '#e0b341', '#f26b6b', '#c38bf5', '#5fd3d3'];

export class Plot {
  // svg: the <svg> (viewBox 0 0 400 120); legend: an element for the series' names.
  constructor(svg, legend, points = 150) {
    this.svg = svg;
    this.legend = legend;
    this.points = points;
    this.series = new Map(); // name → [{t, v}]
  }

  // push adds one value per series at time t (ms); null values are left out.
  push(t, values) {
    for (const [name, v] of Object.entries(values)) {
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      if (!this.series.has(name)) this.series.set(name, []);
      const s = this.series.get(name);
      s.push({ t, v });
      if (s.length > this.points) s.shift();
    }
    this.draw();
  }

  draw() {
    const w = 400, h = 120, pad = 4;
    let t0 = Infinity, t1 = -Infinity, top = 0;
    for (const s of this.series.values()) {
      for (const p of s) {
        t0 = Math.min(t0, p.t);
        t1 = Math.max(t1, p.t);
        top = Math.max(top, p.v);
      }
    }
    this.svg.replaceChildren();
    if (!Number.isFinite(t0)) return;
    top = niceCeil(top);
    const span = Math.max(t1 - t0, 1);
    const x = (t) => pad + ((t - t0) / span) * (w - 2 * pad);
    const y = (v) => h - pad - (v / top) * (h - 2 * pad);
    this.svg.append(line(pad, y(top), w - pad, y(top)), label(pad + 2, y(top) + 10, format(top)));
    this.legend.replaceChildren();
    let i = 0;
    for (const [name, s] of this.series) {
      const color = COLORS[i++ % COLORS.length];
      const poly = document.createElementNS(SVG, 'polyline');
      poly.setAttribute('fill', 'none');
      poly.setAttribute('stroke', color);
      poly.setAttribute('stroke-width', '1.5');
      poly.setAttribute('points', s.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '));
      poly.dataset.series = name;
      this.svg.append(poly);
      const key = document.createElement('span');
      key.textContent = `${name} ${format(s[s.length - 1].v)}`;
      key.dataset.color = String((i - 1) % COLORS.length);
      this.legend.append(key);
    }
  }
}

function line(x1, y1, x2, y2) {
  const l = document.createElementNS(SVG, 'line');
  for (const [k, v] of Object.entries({ x1, y1, x2, y2, stroke: '#2e3137', 'stroke-dasharray': '3 3' })) {
    l.setAttribute(k, String(v));
  }
  return l;
}

function label(x, y, text) {
  const t = document.createElementNS(SVG, 'text');
  t.setAttribute('x', String(x));
  t.setAttribute('y', String(y));
  t.setAttribute('fill', '#8d939c');
  t.setAttribute('font-size', '9');
  t.textContent = text;
  return t;
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function format(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
