// The timeline as a ladder diagram: four lifelines (UE, P-CSCF, S-CSCF, HSS), one arrow per
// timeline entry (SPEC §8 shape), the decision and hint beside it; arrows are focusable
// and call onSelect(entry) on click, Enter or Space.

const SVG = 'http://www.w3.org/2000/svg';
export const NODES = ['UE', 'P-CSCF', 'S-CSCF', 'HSS'];
const UE = 0, PCSCF = 1, SCSCF = 2, HSS = 3;
const NODE_BY_NAME = { ue: UE, pcscf: PCSCF, 'p-cscf': PCSCF, scscf: SCSCF, 's-cscf': SCSCF,
                       hss: HSS, 'hss-stub': HSS };
const CX = /^(MAR|SAR|UAR|LIR|CX)/i;

function nodeOf(name) {
  return name === undefined || name === null ? undefined : NODE_BY_NAME[String(name).toLowerCase()];
}

function hasCode(e) {
  return e.code !== undefined && e.code !== null && e.code !== '';
}

// The messages of one entry. An entry of SPEC §8 is a transaction as one daemon saw it:
// the request it received and, when it decided, the response it sent back; so it gives
// one or two arrows. An entry that says it is a single message ("kind": "request" or
// "response", or "from"/"to") gives one. Each daemon sits between the side requests come
// from and the next hop: the P-CSCF between the UE and the S-CSCF, the S-CSCF between the
// P-CSCF and the HSS (Cx methods: MAR, SAR...).
export function messagesOf(e) {
  const from = nodeOf(e.from), to = nodeOf(e.to);
  const label = labelOf(e);
  if (from !== undefined && to !== undefined) return [{ from, to, label, part: e.kind || 'message' }];
  const daemon = nodeOf(e.daemon);
  const cx = CX.test(e.method || '');
  const home = daemon === HSS || cx ? HSS : daemon === PCSCF ? PCSCF : SCSCF;
  const below = cx ? SCSCF : home - 1;
  const reqLabel = `${e.method || 'request'}` + (e.cseq ? ` (${e.cseq})` : '');
  const req = { from: below, to: home, label: reqLabel, part: 'request' };
  const resp = { from: home, to: below, label, part: 'response' };
  if (e.direction === 'out') { // something this daemon sent onward (or a NOTIFY it sent)
    const next = home === SCSCF ? PCSCF : home + 1;
    return [{ from: home, to: next, label: hasCode(e) ? label : reqLabel, part: e.kind || 'request' }];
  }
  if (e.kind === 'request') return [req];
  if (e.kind === 'response') return [resp];
  return hasCode(e) ? [req, resp] : [req];
}

// Back-compatible single-arrow view: the last message of the entry.
export function arrowOf(e) {
  const m = messagesOf(e);
  return m[m.length - 1];
}

export function labelOf(e) {
  if (hasCode(e)) {
    return `${e.code} ${e.reason || ''}`.trim() + (e.cseq ? ` (${e.cseq})` : '');
  }
  return `${e.method || 'message'}` + (e.cseq ? ` (${e.cseq})` : '');
}

// The text to show for one message of an entry: raw may be one string or
// {request, response}.
export function rawOf(e, part) {
  if (e.raw && typeof e.raw === 'object') return e.raw[part] || e.raw.request || e.raw.response || '';
  return e.raw || '';
}

function el(name, attrs, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

function clock(t) {
  if (t === undefined || t === null) return '';
  const d = typeof t === 'number' ? new Date(t < 1e12 ? t * 1000 : t) : new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().slice(11, 23);
}

function failed(e) {
  return (e.code >= 400 && e.code !== 401 && e.code !== 407) || /reject|fail|fault/i.test(e.decision || '');
}

// entries: array in time order (oldest first). Returns an <svg> element; onSelect(entry,
// part) fires when a message is chosen.
export function renderLadder(entries, { onSelect } = {}) {
  const msgs = [];
  entries.forEach(e => messagesOf(e).forEach((m, i, all) => msgs.push({ ...m, e, last: i === all.length - 1 })));
  const top = 36, row = 46, left = 90, laneW = 210;
  const x = i => left + i * laneW;
  const noteX = x(NODES.length - 1) + 16;
  // Wide enough for the longest decision or hint (about 7 px a character at 12 px).
  const longest = Math.max(0, ...entries.map(e => Math.max((e.decision || '').length, (e.hint || '').length)));
  const width = Math.max(noteX + 40, noteX + longest * 7 + 10);
  const h = top + msgs.length * row + 20;
  const svg = el('svg', { class: 'ladder', viewBox: `0 0 ${width} ${h}`, width, height: h,
                          role: 'group', 'aria-label': `Ladder diagram, ${msgs.length} messages` });
  NODES.forEach((name, i) => {
    svg.append(el('text', { class: 'node', x: x(i), y: 18, 'text-anchor': 'middle' }, name));
    svg.append(el('line', { class: 'life', x1: x(i), y1: 26, x2: x(i), y2: h - 8 }));
  });
  msgs.forEach((m, k) => {
    const e = m.e;
    const y = top + k * row + 24;
    // The decision and hint belong to the daemon's answer: beside the entry's last arrow.
    const said = m.last ? [e.decision, e.hint].filter(Boolean) : [];
    const g = el('g', { class: 'arrow' + (m.last && failed(e) ? ' fail' : ''), tabindex: '0',
                        role: 'button', 'data-index': k, 'data-part': m.part });
    g.setAttribute('aria-label', `${NODES[m.from]} to ${NODES[m.to]}: ${m.label}` +
                   (said.length ? '. ' + said.join('. ') : '') + '. Show the message.');
    g.append(el('rect', { class: 'hit', x: 2, y: y - 22, width: width - 4, height: row - 4, rx: 4 }));
    const x1 = x(m.from), x2 = x(m.to), dir = x2 > x1 ? 1 : -1;
    g.append(el('line', { x1, y1: y, x2: x2 - dir * 8, y2: y }));
    g.append(el('polygon', { points: `${x2},${y} ${x2 - dir * 9},${y - 5} ${x2 - dir * 9},${y + 5}` }));
    g.append(el('text', { class: 'label', x: (x1 + x2) / 2, y: y - 6, 'text-anchor': 'middle' },
                m.label + (e.protected ? ' (protected)' : '')));
    g.append(el('text', { class: 'time', x: 4, y: y + 4 }, clock(e.time)));
    if (said[0]) g.append(el('text', { class: 'note', x: noteX, y: y - 4 }, said[0]));
    if (said[1]) g.append(el('text', { class: 'hint', x: noteX, y: y + 12 }, said[1]));
    const pick = () => {
      svg.querySelectorAll('.arrow.selected').forEach(n => n.classList.remove('selected'));
      g.classList.add('selected');
      if (onSelect) onSelect(e, m.part);
    };
    g.addEventListener('click', pick);
    g.addEventListener('keydown', ev => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(); }
    });
    svg.append(g);
  });
  return svg;
}
