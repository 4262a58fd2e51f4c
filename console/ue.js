// UE tab: for one IMPU, the timeline of both CSCFs as a ladder diagram (click a message to
// read it), the pcap download, its IPsec SAs and the fault rules. Each panel says "not
// available on this build" when its endpoint answers 404, so it lights up when the API lands.
import { call, apiUrl, NOT_AVAILABLE, token } from './api.js';
import { renderLadder, rawOf } from './ladder.js';
import { $, clearErrors, h, setFieldError } from './forms.js';

let current = '';
let pcapUrl = null;

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
  const t = e => (typeof e.time === 'number' ? e.time : Date.parse(e.time) || 0);
  entries.sort((a, b) => t(a) - t(b));
  return { entries, missing, errors };
}

export function showMessage(e, part) {
  const view = $('#message-view');
  view.hidden = false;
  $('#message-h').textContent = `${part === 'response' ? 'Response' : 'Request'}: ` +
    `${e.code && part !== 'request' ? e.code + ' ' + (e.reason || '') : e.method || ''} — ${e.daemon || ''}` +
    (e.source ? ` from ${e.source}` : '') + (e.transport ? `/${e.transport}` : '') +
    (e.protected ? ', protected (decrypted)' : '');
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

async function loadPcap(impu) {
  const link = $('#pcap-link');
  link.hidden = true;
  if (pcapUrl) URL.revokeObjectURL(pcapUrl);
  pcapUrl = null;
  const headers = token('scscf') ? { Authorization: 'Bearer ' + token('scscf') } : {};
  let r;
  try {
    r = await fetch(apiUrl('scscf', `/api/v1/timeline/pcap?impu=${encodeURIComponent(impu)}`), { headers, cache: 'no-store' });
  } catch (e) {
    panel('p-pcap', 'error', 'Cannot reach the S-CSCF for the capture.');
    return;
  }
  if (r.status === 404 && !(r.headers.get('Content-Type') || '').includes('pcap')) {
    const body = await r.text();
    if (/no such resource/i.test(body) || !body) { panel('p-pcap', 'missing', 'Capture (/api/v1/timeline/pcap)'); return; }
    panel('p-pcap', 'ok', 'No messages captured for this UE.');
    return;
  }
  if (!r.ok) {
    panel('p-pcap', 'error', `S-CSCF answered ${r.status} for the capture.`);
    return;
  }
  pcapUrl = URL.createObjectURL(await r.blob());
  link.href = pcapUrl;
  link.download = impu.replace(/[^a-zA-Z0-9@._-]+/g, '_') + '.pcap';
  link.hidden = false;
  panel('p-pcap', 'ok', 'Opens in Wireshark; messages that came over IPsec are in clear.');
}

const SECRET = /key|^ck$|^ik$|secret|password|opc?$|^k$/i;

function table(rows, caption) {
  const cols = [...new Set(rows.flatMap(r => Object.keys(r)))].filter(c => !SECRET.test(c));
  return h('table', {}, h('caption', {}, caption),
    h('thead', {}, h('tr', {}, cols.map(c => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', { class: 'mono' },
      typeof r[c] === 'object' && r[c] !== null ? JSON.stringify(r[c]) : String(r[c] ?? '')))))));
}

async function loadIpsec(impu) {
  const box = $('#ipsec-table');
  box.replaceChildren();
  try {
    const r = await call('pcscf', 'GET', '/api/v1/ipsec/sas');
    const all = itemsOf(r.data);
    const mine = all.filter(sa => !sa.impu || sa.impu === impu || (sa.impus || []).includes(impu));
    panel('p-ipsec', 'ok', mine.length ? '' : 'No security associations for this UE (it registered unprotected, or not at all).');
    if (mine.length) box.append(table(mine, `Security associations of ${impu}`));
  } catch (e) {
    panel('p-ipsec', e.missing ? 'missing' : 'error', e.missing ? 'IPsec (/api/v1/ipsec/sas)' : e.message);
  }
}

async function loadFaults() {
  const box = $('#fault-table');
  box.replaceChildren();
  try {
    const r = await call('scscf', 'GET', '/api/v1/faults');
    const rules = itemsOf(r.data).filter(f => !f.match || !f.match.impu || f.match.impu === current);
    $('#fault-form').hidden = false;
    panel('p-faults', 'ok', rules.length ? '' : 'No fault rules armed for this UE.');
    if (!rules.length) return;
    box.append(h('table', {}, h('caption', {}, 'Armed rules'),
      h('thead', {}, h('tr', {}, ['Id', 'Match', 'Action', 'Left', ''].map(c => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rules.map(f => h('tr', {},
        h('td', { class: 'mono' }, f.id), h('td', { class: 'mono' }, JSON.stringify(f.match || {})),
        h('td', { class: 'mono' }, JSON.stringify(f.action || {})), h('td', {}, f.count ?? '—'),
        h('td', {}, h('button', { type: 'button', class: 'small danger', 'aria-label': `Disarm rule ${f.id}`,
                                  onclick: () => disarm(f.id) }, 'Disarm')))))));
  } catch (e) {
    $('#fault-form').hidden = !!e.missing;
    panel('p-faults', e.missing ? 'missing' : 'error', e.missing ? 'Fault injection (/api/v1/faults)' : e.message);
  }
}

async function disarm(id) {
  try {
    await call('scscf', 'DELETE', '/api/v1/faults/' + encodeURIComponent(id));
  } catch (e) {
    $('#e-fault').textContent = e.message;
  }
  loadFaults();
}

async function arm(ev) {
  ev.preventDefault();
  const form = $('#fault-form');
  clearErrors(form);
  const kind = $('#fa-action').value, code = $('#fa-code'), count = $('#fa-count');
  const n = Number(count.value), v = Number(code.value);
  if (!Number.isInteger(n) || n < 1) { setFieldError(count, 'Count must be a whole number above 0.'); count.focus(); return; }
  if (kind === 'reply' && !(Number.isInteger(v) && v >= 300 && v <= 699)) {
    setFieldError(code, 'A reply code is 300 to 699.'); code.focus(); return;
  }
  if (kind === 'delay_ms' && !(Number.isInteger(v) && v >= 0)) {
    setFieldError(code, 'The delay is a whole number of milliseconds.'); code.focus(); return;
  }
  const action = kind === 'reply' ? { reply: v, reason: $('#fa-reason').value.trim() || undefined }
    : kind === 'delay_ms' ? { delay_ms: v } : { [kind]: true };
  const match = { impu: current, stage: $('#fa-stage').value };
  if ($('#fa-method').value !== 'any') match.method = $('#fa-method').value;
  try {
    await call('scscf', 'POST', '/api/v1/faults', { match, action, count: n });
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
