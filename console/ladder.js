// The timeline as a ladder diagram: four lifelines (UE, P-CSCF, S-CSCF, HSS), one arrow per
// message, the decision and hint beside it; arrows are focusable and call
// onSelect(entry, part) on click, Enter or Space. Pure: entries in, an <svg> out.

const SVG = 'http://www.w3.org/2000/svg';
export const NODES = ['UE', 'P-CSCF', 'S-CSCF', 'HSS'];
const PCSCF = 1, SCSCF = 2, HSS = 3;
const NODE_BY_NAME = { ue: 0, pcscf: PCSCF, 'p-cscf': PCSCF, scscf: SCSCF, 's-cscf': SCSCF,
                       hss: HSS, 'hss-stub': HSS };
const CX = /^(MAR|SAR|UAR|LIR|CX)/i;
// Requests that travel from the network toward the UE.
const TOWARD_UE = /^NOTIFY$/i;

function nodeOf(name) {
  return name === undefined || name === null ? undefined : NODE_BY_NAME[String(name).toLowerCase()];
}

function present(v) {
  return v !== undefined && v !== null && v !== '';
}

function actionWords(action, d) {
  if (!action) return '';
  let s = String(action).replace(/_/g, ' ');
  if (d && typeof d === 'object') {
    if (d.scheme) s += ` (${d.scheme})`;
    if (d.summary) s += `: ${d.summary}`;
    if (present(d.expires)) s += `, expires ${d.expires} s`;
  }
  return s;
}

// One entry in the console's terms, whichever of the two shapes it came in: SPEC §8's
// names (code, source, raw, decision) or the CSCFs' (status, src {addr, port}, sip,
// action + details).
export function normalize(e) {
  const src = e.src && typeof e.src === 'object' ? `${e.src.addr}:${e.src.port}` : e.src;
  return {
    ...e,
    code: present(e.code) ? e.code : e.status,
    source: e.source || src,
    raw: present(e.raw) ? e.raw : e.sip,
    decision: e.decision || actionWords(e.action, e.details),
  };
}

function labelOf(e, part) {
  const cseq = present(e.cseq) ? ` (${e.cseq})` : '';
  if (part !== 'request' && present(e.code)) return `${e.code} ${e.reason || ''}`.trim() + cseq;
  return `${e.method || 'message'}` + cseq;
}

// Which lifelines one message joins. Each daemon sits between the side its requests come
// from and the next hop: the P-CSCF between the UE and the S-CSCF, the S-CSCF between the
// P-CSCF and the HSS (Cx methods). "in"/"out" say whether the daemon received or sent it.
function ends(daemon, method, isResponse, out) {
  if (daemon === HSS || CX.test(method || '')) {
    return isResponse ? [HSS, SCSCF] : [SCSCF, HSS];
  }
  const home = daemon === PCSCF ? PCSCF : SCSCF;
  const below = home - 1;
  const above = home === PCSCF ? SCSCF : PCSCF; // the S-CSCF's other SIP side is the P-CSCF too
  // For a request toward the UE the roles swap: it comes from above and goes below.
  const toUe = TOWARD_UE.test(method || '');
  const reqFrom = toUe ? above : below, reqTo = toUe ? below : above;
  if (!isResponse) return out ? [home, reqTo] : [reqFrom, home];
  return out ? [home, reqFrom] : [reqTo, home];
}

// The messages of one entry: none for a decision (it annotates a message), one for a
// message entry ("kind": "request"/"response", "direction" default in for requests, out for
// responses), or two for a SPEC §8 transaction entry (the request received and, when it
// has a code, the answer sent). Explicit "from"/"to" win.
export function messagesOf(raw) {
  const e = normalize(raw);
  const daemon = nodeOf(e.daemon);
  const from = nodeOf(e.from), to = nodeOf(e.to);
  if (from !== undefined && to !== undefined) {
    const part = e.kind === 'request' || !present(e.code) ? 'request' : 'response';
    return [{ from, to, part, label: labelOf(e, part), e }];
  }
  if (e.kind === 'decision') return [];
  if (e.kind === 'request' || e.kind === 'response') {
    const isResp = e.kind === 'response';
    const out = e.direction ? e.direction === 'out' : isResp;
    const [a, b] = ends(daemon, e.method, isResp, out);
    return [{ from: a, to: b, part: e.kind, label: labelOf(e, e.kind), e }];
  }
  const [qa, qb] = ends(daemon, e.method, false, false);
  const msgs = [{ from: qa, to: qb, part: 'request', label: labelOf(e, 'request'), e }];
  if (present(e.code)) {
    const [ra, rb] = ends(daemon, e.method, true, true);
    msgs.push({ from: ra, to: rb, part: 'response', label: labelOf(e, 'response'), e });
  }
  return msgs;
}

// Arrows for a whole timeline, oldest first: the same message logged by both CSCFs (the
// P-CSCF sending a REGISTER, the S-CSCF receiving it) is one arrow; a decision entry's
// words go beside the next message its daemon sends in that transaction (else the last
// one it handled, else on a row of their own).
export function arrowsOf(entries) {
  const rows = [], seen = new Map();
  // A decision belongs to its daemon's transaction; some carry no CSeq, so the Call-ID
  // (one registration attempt) is what ties them.
  const txn = e => `${e.daemon}|${e.call_id || ''}`;
  const pending = new Map(); // transaction -> decisions waiting for an outgoing message
  for (const raw of entries) {
    const e = normalize(raw);
    if (e.kind === 'decision') {
      const words = { decision: e.decision, hint: e.hint, fail: failed(e) };
      if (!pending.has(txn(e))) pending.set(txn(e), []);
      pending.get(txn(e)).push({ words, e });
      continue;
    }
    const msgs = messagesOf(e);
    for (const m of msgs) {
      const key = `${m.from}>${m.to}|${e.call_id || ''}|${e.cseq || ''}|${e.method || ''}|${m.part === 'response' ? e.code : ''}`;
      const twin = seen.get(key);
      if (twin && twin.daemon !== e.daemon && !twin.paired) { // the other CSCF's view of it
        twin.paired = true;
        twin.row.also = e;
        continue;
      }
      const last = m === msgs[msgs.length - 1];
      const row = { ...m, notes: [] };
      if (last && (e.decision || e.hint)) row.notes.push({ decision: e.decision, hint: e.hint, fail: failed(e) });
      const waiting = pending.get(txn(e));
      if (waiting && (m.from === nodeOf(e.daemon) || m.part === 'response')) {
        // The answer often says the same as the decision before it: say it once.
        const said = new Set(row.notes.map(n => `${n.decision}|${n.hint}`));
        row.notes.push(...waiting.map(w => w.words).filter(w => !said.has(`${w.decision}|${w.hint}`)));
        pending.delete(txn(e));
      }
      seen.set(key, { daemon: e.daemon, row, paired: false });
      rows.push(row);
    }
  }
  for (const waiting of pending.values()) { // decisions no later message carried
    for (const { words, e } of waiting) {
      const home = nodeOf(e.daemon) ?? SCSCF;
      const prev = [...rows].reverse().find(r => r.e.daemon === e.daemon && (r.e.call_id || '') === (e.call_id || ''));
      if (prev) prev.notes.push(words);
      else rows.push({ from: home, to: home, part: 'decision', label: e.method || 'decision', e, notes: [words] });
    }
  }
  return rows;
}

// Kept for callers that want one arrow per entry.
export function arrowOf(e) {
  const m = messagesOf(e);
  return m[m.length - 1];
}

// The text to show for one message of an entry: raw may be one string or
// {request, response}.
export function rawOf(e, part) {
  const n = normalize(e);
  if (n.raw && typeof n.raw === 'object') return n.raw[part] || n.raw.request || n.raw.response || '';
  return n.raw || '';
}

function el(name, attrs, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

function clock(t) {
  if (!present(t)) return '';
  const d = typeof t === 'number' ? new Date(t < 1e12 ? t * 1000 : t) : new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().slice(11, 23);
}

function failed(e) {
  return (present(e.code) && e.code >= 400 && e.code !== 401 && e.code !== 407) ||
    /reject|fail|fault/i.test(`${e.decision || ''} ${e.action || ''}`);
}

// entries: array in time order (oldest first). Returns an <svg> element.
export function renderLadder(entries, { onSelect } = {}) {
  const rows = arrowsOf(entries);
  const top = 36, row = 46, left = 130, laneW = 210;
  const x = i => left + i * laneW;
  const noteX = x(NODES.length - 1) + 16;
  const text = r => ({ decision: r.notes.map(n => n.decision).filter(Boolean).join('; '),
                       hint: r.notes.map(n => n.hint).filter(Boolean).join('; ') });
  // Wide enough for the longest decision or hint (about 7 px a character at 12 px).
  const longest = Math.max(0, ...rows.map(r => Math.max(text(r).decision.length, text(r).hint.length)));
  const width = noteX + Math.max(40, longest * 7 + 10);
  const h = top + rows.length * row + 20;
  const svg = el('svg', { class: 'ladder', viewBox: `0 0 ${width} ${h}`, width, height: h,
                          role: 'group', 'aria-label': `Ladder diagram, ${rows.length} messages` });
  NODES.forEach((name, i) => {
    svg.append(el('text', { class: 'node', x: x(i), y: 18, 'text-anchor': 'middle' }, name));
    svg.append(el('line', { class: 'life', x1: x(i), y1: 26, x2: x(i), y2: h - 8 }));
  });
  rows.forEach((m, k) => {
    const e = normalize(m.e);
    const y = top + k * row + 24;
    const said = text(m);
    const bad = m.notes.some(n => n.fail);
    const g = el('g', { class: 'arrow' + (bad ? ' fail' : ''), tabindex: '0', role: 'button',
                        'data-index': k, 'data-part': m.part });
    const words = [said.decision, said.hint].filter(Boolean);
    g.setAttribute('aria-label', `${NODES[m.from]} to ${NODES[m.to]}: ${m.label}` +
                   (words.length ? '. ' + words.join('. ') : '') + '. Show the message.');
    g.append(el('rect', { class: 'hit', x: 2, y: y - 22, width: width - 4, height: row - 4, rx: 4 }));
    const x1 = x(m.from), x2 = x(m.to);
    if (x1 === x2) { // a decision with no message of its own
      g.append(el('circle', { cx: x1, cy: y, r: 5 }));
    } else {
      const dir = x2 > x1 ? 1 : -1;
      g.append(el('line', { x1, y1: y, x2: x2 - dir * 8, y2: y }));
      g.append(el('polygon', { points: `${x2},${y} ${x2 - dir * 9},${y - 5} ${x2 - dir * 9},${y + 5}` }));
    }
    g.append(el('text', { class: 'label', x: x1 === x2 ? x1 + 10 : (x1 + x2) / 2, y: y - 6,
                          'text-anchor': x1 === x2 ? 'start' : 'middle' },
                m.label + (e.protected ? ' (protected)' : '')));
    g.append(el('text', { class: 'time', x: 4, y: y + 4 }, clock(e.time)));
    if (said.decision) g.append(el('text', { class: 'note', x: noteX, y: y - 4 }, said.decision));
    if (said.hint) g.append(el('text', { class: 'hint', x: noteX, y: y + 12 }, said.hint));
    const pick = () => {
      svg.querySelectorAll('.arrow.selected').forEach(n => n.classList.remove('selected'));
      g.classList.add('selected');
      if (onSelect) onSelect(e, m.part === 'decision' ? 'request' : m.part);
    };
    g.addEventListener('click', pick);
    g.addEventListener('keydown', ev => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(); }
    });
    svg.append(g);
  });
  return svg;
}
