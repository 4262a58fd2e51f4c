// Prometheus text exposition parsing and the Overview's small SVG charts (no library: a
// few lines of SVG are enough for three sparkline-sized charts).

// Returns [{name, labels: {k: v}, value}] for every sample line; comments and malformed
// lines are skipped.
export function parsePrometheus(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(t);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[3] || '')) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (!Number.isNaN(value) || m[4] === 'NaN') out.push({ name: m[1], labels, value });
  }
  return out;
}

// Sum of the samples called name whose labels include want.
export function metric(samples, name, want = {}) {
  let sum = 0, seen = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(want).some(([k, v]) => s.labels[k] !== v)) continue;
    sum += s.value;
    seen = true;
  }
  return seen ? sum : null;
}

const SVG = 'http://www.w3.org/2000/svg';
function el(name, attrs, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// series: [{name, points: [[t_ms, value]...]}]; a line chart over the window.
export function lineChart(series, { label, windowMs = 10 * 60 * 1000 } = {}) {
  const W = 300, H = 110, L = 34, B = 18;
  const now = Date.now();
  const all = series.flatMap(s => s.points.map(p => p[1])).filter(v => v !== null && isFinite(v));
  const max = Math.max(1, ...all);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label || 'chart' });
  svg.append(el('line', { class: 'axis', x1: L, y1: H - B, x2: W - 4, y2: H - B }));
  svg.append(el('line', { class: 'axis', x1: L, y1: 6, x2: L, y2: H - B }));
  svg.append(el('text', { x: L - 4, y: 12, 'text-anchor': 'end' }, fmt(max)));
  svg.append(el('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'));
  svg.append(el('text', { x: L, y: H - 4 }, `-${Math.round(windowMs / 60000)} min`));
  svg.append(el('text', { x: W - 4, y: H - 4, 'text-anchor': 'end' }, 'now'));
  series.forEach((s, i) => {
    const pts = s.points.filter(p => p[1] !== null && isFinite(p[1]) && now - p[0] <= windowMs)
      .map(([t, v]) => `${(L + (W - 4 - L) * (1 - (now - t) / windowMs)).toFixed(1)},` +
                        `${(H - B - (H - B - 8) * (v / max)).toFixed(1)}`);
    if (pts.length > 1) svg.append(el('polyline', { class: 's' + i, points: pts.join(' ') }));
    if (pts.length) { // the latest sample as a dot, so a single sample shows too
      const [cx, cy] = pts[pts.length - 1].split(',');
      svg.append(el('circle', { class: 's' + i, cx, cy, r: 3 }));
    }
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    svg.append(el('text', { x: L + 6 + i * 130, y: 16, class: 'legend' },
                  `${s.name}: ${last === null ? '—' : fmt(last)}`));
  });
  return svg;
}

// bars: [{name, value}], largest first.
export function barChart(bars, { label } = {}) {
  const W = 300, row = 18, L = 150;
  const shown = bars.filter(b => b.value > 0).sort((a, b) => b.value - a.value).slice(0, 8);
  const H = Math.max(30, shown.length * row + 8);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label || 'chart' });
  if (!shown.length) {
    svg.append(el('text', { x: 4, y: 18 }, 'no failures yet'));
    return svg;
  }
  const max = Math.max(...shown.map(b => b.value));
  shown.forEach((b, i) => {
    const y = 4 + i * row;
    svg.append(el('text', { x: L - 4, y: y + 12, 'text-anchor': 'end' }, b.name.slice(0, 26)));
    svg.append(el('rect', { class: 'bar', x: L, y: y + 2, height: row - 6,
                            width: Math.max(2, (W - L - 40) * b.value / max) }));
    svg.append(el('text', { x: L + 4 + (W - L - 40) * b.value / max, y: y + 12 }, fmt(b.value)));
  });
  return svg;
}

function fmt(v) {
  if (!isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en');
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
