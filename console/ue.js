// UE tab: for one IMPU, the timeline of both CSCFs as a ladder diagram (click a message to
// read it), the pcap download, its IPsec SAs and the fault rules. Each panel says "not
// available on this build" when its endpoint answers 404, so it lights up when the API lands.
import { call, apiUrl, NOT_AVAILABLE, token } from './api.js';
import { renderLadder, rawOf } from './ladder.js';
import { $, clearErrors, h, setFieldError } from './forms.js';

let current = '';
const WHERE = { scscf: 'S-CSCF', pcscf: 'P-CSCF' };

function present(v) {
  return v !== undefined && v !== null && v !== '';
}

function panel(id, state, msg) {
  const p = $('#' + id);
  p.classList.toggle('unavailable', state === 'missing');
  const m = p.querySelector('.panel-msg');
  m.textContent = state === 'missing' ? `${msg || 'This panel'}: ${NOT_AVAILABLE}.` : msg || '';
  m.classList.toggle('error', state === 'error');
  return p;
}

function itemsOf(data) {
  return Array.isArray(data) ? data : (data && (data.items || data.entries)) || [];
}

// Entries from both CSCFs, oldest first. Missing endpoints are reported, not fatal.
async function timeline(impu) {
  const q = `/api/v1/timeline?impu=${encodeURIComponent(impu)}&limit=200`;
  const res = await Promise.allSettled([call('scscf', 'GET', q), call('pcscf', 'GET', q)]);
  const entries = [], missing = [], errors = [];
  res.forEach((r, i) => {
    const who = i ? 'P-CSCF' : 'S-CSCF';
    if (r.status === 'fulfilled') {
      for (const e of itemsOf(r.value.data)) entries.push({ daemon: i ? 'pcscf' : 'scscf', ...e });
    } else if (r.reason.missing) missing.push(who);
    else errors.push(r.reason.message);
  });
  // Microseconds when the CSCFs give them (ts_us), else the ISO time; ties keep the order
  // each CSCF listed them in (Array.prototype.sort is stable).
  const t0 = e => (typeof e.ts_us === 'number' ? e.ts_us
    : typeof e.time === 'number' ? e.time * 1e6 : (Date.parse(e.time) || 0) * 1000);
  // Each CSCF stamps an entry when it gets to it, so across the two the clocks may
  // disagree with cause and effect by a little. The P-CSCF's order is the UE's story; the
  // S-CSCF's entries are fitted into it: a request it received comes after the P-CSCF
  // sent it, an answer it sent comes before the P-CSCF handled it.
  const pc = new Map();
  for (const e of entries) {
    if (e.daemon !== 'pcscf') continue;
    const k = `${e.kind}|${e.call_id}|${e.cseq}|${e.kind === 'response' ? e.status ?? e.code : e.method}`;
    if (!pc.has(k) || (e.kind === 'request' && e.direction === 'out')) pc.set(k, t0(e));
  }
  const t = e => {
    if (e.daemon !== 'scscf' || (e.kind !== 'request' && e.kind !== 'response')) return t0(e);
    const k = `${e.kind}|${e.call_id}|${e.cseq}|${e.kind === 'response' ? e.status ?? e.code : e.method}`;
    const anchor = pc.get(k);
    if (anchor === undefined) return t0(e);
    return e.kind === 'request' ? Math.max(t0(e), anchor + 1) : Math.min(t0(e), anchor - 1);
  };
  entries.sort((a, b) => t(a) - t(b));
  return { entries, missing, errors };
}

function addr(a) {
  return a && typeof a === 'object' ? `${a.addr}:${a.port}` : a;
}

// e is a normalized entry (ladder.js), part "request" or "response".
export function showMessage(e, part) {
  const view = $('#message-view');
  view.hidden = false;
  const out = e.direction ? e.direction === 'out' : part === 'response';
  const peer = out ? addr(e.dst) : e.source;
  const what = part === 'response' && e.code ? `${e.code} ${e.reason || ''}`.trim() : e.method || '';
  $('#message-h').textContent = `${part === 'response' ? 'Response' : 'Request'}: ${what} — ` +
    `${out ? 'sent' : 'received'} by ${e.daemon || '?'}` + (peer ? ` ${out ? 'to' : 'from'} ${peer}` : '') +
    (e.transport ? ` over ${e.transport}` : '') + (e.protected ? ', IPsec protected (shown decrypted)' : '');
  $('#message-raw').textContent = rawOf(e, part) || '(this entry carries no message text)';
  $('#message-h').focus();
}

// Draws entries (oldest first) into the timeline panel; notes are said after the count.
export function showTimeline(entries, notes = [], failed = false) {
  const box = $('#ladder');
  box.replaceChildren();
  $('#message-view').hidden = true;
  panel('p-timeline', failed ? 'error' : 'ok',
        (entries.length ? `${entries.length} entries, oldest first. Select a message to read it.`
                        : 'No timeline entries for this UE yet.') + (notes.length ? ' ' + notes.join(' ') : ''));
  if (entries.length) box.append(renderLadder(entries, { onSelect: showMessage }));
}

async function loadTimeline(impu) {
  const { entries, missing, errors } = await timeline(impu);
  if (missing.length === 2) {
    $('#ladder').replaceChildren();
    panel('p-timeline', 'missing', 'Timeline (/api/v1/timeline)');
    return;
  }
  showTimeline(entries, errors.concat(missing.map(w => `${w} timeline: ${NOT_AVAILABLE}.`)), errors.length > 0);
}

const pcapUrls = [];

// One capture per CSCF: fetched with the token (a plain link could not send it), offered as
// a download of the blob.
async function pcapOf(api, impu) {
  const headers = token(api) ? { Authorization: 'Bearer ' + token(api) } : {};
  let r;
  try {
    r = await fetch(apiUrl(api, `/api/v1/timeline/pcap?impu=${encodeURIComponent(impu)}`), { headers, cache: 'no-store' });
  } catch (e) {
    return { note: `Cannot reach the ${WHERE[api]} for its capture.` };
  }
  if (!r.ok) {
    const body = await r.text();
    if (r.status === 404 && (!body || /no such resource/i.test(body))) return { missing: true };
    return { note: `${WHERE[api]} answered ${r.status} for the capture${r.status === 404 ? ' (no messages of this UE)' : ''}.` };
  }
  const url = URL.createObjectURL(await r.blob());
  pcapUrls.push(url);
  return { link: h('li', {}, h('a', { href: url, download: `${api}-${impu.replace(/[^a-zA-Z0-9@._-]+/g, '_')}.pcap` },
    `${WHERE[api]} capture of this UE (pcap)`)) };
}

async function loadPcap(impu) {
  while (pcapUrls.length) URL.revokeObjectURL(pcapUrls.pop());
  const res = await Promise.all(Object.keys(WHERE).map(api => pcapOf(api, impu)));
  $('#pcap-links').replaceChildren(...res.filter(r => r.link).map(r => r.link));
  if (res.every(r => r.missing)) {
    panel('p-pcap', 'missing', 'Capture (/api/v1/timeline/pcap)');
    return;
  }
  const notes = res.filter(r => r.note).map(r => r.note);
  panel('p-pcap', 'ok', (res.some(r => r.link) ? 'Opens in Wireshark; messages that came over IPsec are in clear. ' : '') + notes.join(' '));
}

const SECRET = /key|^ck$|^ik$|secret|password|opc?$|^k$/i;

function table(rows, caption) {
  const cols = [...new Set(rows.flatMap(r => Object.keys(r)))].filter(c => !SECRET.test(c));
  return h('table', {}, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, cols.map(c => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', { class: 'mono' },
      typeof r[c] === 'object' && r[c] !== null ? JSON.stringify(r[c]) : String(r[c] ?? '')))))));
}

// The SAs of one UE as a table without any key column (a token lets the P-CSCF include
// the keys; the console never shows them).
export function showSas(all, impi, impu) {
  const mine = impi ? all.filter(sa => sa.impi === impi || sa.impu === impu) : all;
  const note = impi ? '' : 'The IMPI of this IMPU is unknown (not registered, not in the HSS): every SA is listed. ';
  panel('p-ipsec', 'ok', note + (mine.length ? '' : 'No security associations for this UE (it registered unprotected, or not at all).'));
  $('#ipsec-table').replaceChildren(...(mine.length ? [table(mine, `Security associations${impi ? ' of ' + impi : ''}`)] : []));
}

// The IMPI behind an IMPU (the SAs are listed per IMPI): from the S-CSCF's registration,
// else the HSS record; null when neither knows.
async function impiOf(impu) {
  const path = encodeURIComponent(impu);
  for (const [api, p] of [['scscf', '/api/v1/registrations/' + path], ['hss', '/api/v1/impus/' + path]]) {
    try {
      const r = await call(api, 'GET', p);
      if (r.data && r.data.impi) return r.data.impi;
    } catch (e) {
      /* try the next source */
    }
  }
  return null;
}

async function loadIpsec(impu) {
  const box = $('#ipsec-table');
  box.replaceChildren();
  try {
    const [r, impi] = await Promise.all([call('pcscf', 'GET', '/api/v1/ipsec/sas'), impiOf(impu)]);
    showSas(itemsOf(r.data), impi, impu);
  } catch (e) {
    panel('p-ipsec', e.missing ? 'missing' : 'error', e.missing ? 'IPsec (/api/v1/ipsec/sas)' : e.message);
  }
}

function ruleRow(api, f) {
  const left = [present(f.remaining) ? `${f.remaining} left` : null,
                present(f.expires_in) ? `ends in ${f.expires_in} s` : null].filter(Boolean).join(', ');
  return h('tr', {},
    h('td', {}, WHERE[api]), h('td', { class: 'mono' }, f.id),
    h('td', { class: 'mono' }, f.summary || `${JSON.stringify(f.match || {})} → ${JSON.stringify(f.action || {})}`),
    h('td', {}, left || (present(f.count) ? String(f.count) : '—')),
    h('td', {}, h('button', { type: 'button', class: 'small danger', 'aria-label': `Disarm rule ${f.id} at the ${WHERE[api]}`,
                              onclick: () => disarm(api, f.id) }, 'Disarm')));
}

// Rules of both CSCFs for this UE (rules matching no identity apply to every UE: shown too).
async function loadFaults() {
  const box = $('#fault-table');
  box.replaceChildren();
  const res = await Promise.allSettled(Object.keys(WHERE).map(api => call(api, 'GET', '/api/v1/faults')));
  const rows = [], notes = [];
  let missing = 0;
  res.forEach((r, i) => {
    const api = Object.keys(WHERE)[i];
    if (r.status === 'rejected') {
      if (r.reason.missing) { missing++; notes.push(`${WHERE[api]}: ${NOT_AVAILABLE}.`); } else notes.push(r.reason.message);
      return;
    }
    for (const f of itemsOf(r.value.data)) {
      const m = f.match || {};
      if (!(m.impu || m.impi || m.imsi) || m.impu === current) rows.push(ruleRow(api, f));
    }
  });
  if (missing === res.length) {
    $('#fault-form').hidden = true;
    panel('p-faults', 'missing', 'Fault injection (/api/v1/faults)');
    return;
  }
  $('#fault-form').hidden = false;
  panel('p-faults', notes.length > missing ? 'error' : 'ok',
        (rows.length ? '' : 'No fault rules armed for this UE. ') + notes.join(' '));
  if (rows.length) {
    box.append(h('table', {}, h('caption', {}, 'Armed rules'),
      h('thead', {}, h('tr', {}, ['At', 'Id', 'Rule', 'Left', ''].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows)));
  }
}

async function disarm(api, id) {
  $('#e-fault').textContent = '';
  try {
    await call(api, 'DELETE', '/api/v1/faults/' + encodeURIComponent(id));
  } catch (e) {
    $('#e-fault').textContent = e.message;
  }
  loadFaults();
}

function int(input, min, max, msg) {
  const v = input.value.trim();
  const n = Number(v);
  if (v === '' || !Number.isInteger(n) || n < min || n > max) {
    setFieldError(input, msg);
    input.focus();
    return null;
  }
  return n;
}

async function arm(ev) {
  ev.preventDefault();
  const form = $('#fault-form');
  clearErrors(form);
  const kind = $('#fa-action').value, code = $('#fa-code'), retry = $('#fa-retry');
  const n = int($('#fa-count'), 1, 100000, 'Count must be a whole number from 1 to 100000.');
  if (n === null) return;
  let action;
  if (kind === 'reply') {
    const v = int(code, 300, 699, 'A reply code is 300 to 699.');
    if (v === null) return;
    action = { reply: v };
    if ($('#fa-reason').value.trim()) action.reason = $('#fa-reason').value.trim();
    if (retry.value.trim()) {
      const r = int(retry, 0, 86400, 'Retry-After is 0 to 86400 seconds.');
      if (r === null) return;
      action.retry_after = r;
    }
  } else if (kind === 'delay_ms') {
    const v = int(code, 1, 60000, 'The delay is 1 to 60000 milliseconds.');
    if (v === null) return;
    action = { delay_ms: v, target: $('#fa-target').value };
  } else if (kind === 'drop') {
    action = { drop: true, target: $('#fa-target').value };
  } else {
    action = { [kind]: true };
  }
  const match = { impu: current, stage: $('#fa-stage').value };
  if ($('#fa-method').value !== 'any') match.method = $('#fa-method').value;
  try {
    await call($('#fa-where').value, 'POST', '/api/v1/faults', { match, action, count: n });
  } catch (e) {
    $('#e-fault').textContent = e.message;
  }
  loadFaults();
}

export async function openUe(impu) {
  current = impu;
  $('#ue-impu').value = impu;
  $('#ue-h').textContent = impu ? `UE ${impu}` : 'UE';
  $('#message-view').hidden = true;
  if (!impu) {
    for (const id of ['p-timeline', 'p-pcap', 'p-ipsec', 'p-faults']) panel(id, 'ok', 'Enter an IMPU above, or pick one under Registrations.');
    return;
  }
  for (const id of ['p-timeline', 'p-pcap', 'p-ipsec', 'p-faults']) panel(id, 'ok', 'Loading…');
  await Promise.all([loadTimeline(impu), loadPcap(impu), loadIpsec(impu), loadFaults()]);
}

export function initUe(onShow) {
  $('#ue-form').addEventListener('submit', ev => {
    ev.preventDefault();
    onShow($('#ue-impu').value.trim());
  });
  $('#fault-form').addEventListener('submit', arm);
}
