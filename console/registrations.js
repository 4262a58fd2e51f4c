// Registrations tab: the S-CSCF's bindings joined with what the P-CSCF remembers, expiry
// counting down locally, deregister (deactivated/rejected) and shorten buttons. Refreshes
// from the S-CSCF's event stream when it has one; else polls every 5 s and says so.
import { call, apiUrl } from './api.js';
import { $, confirmDialog, h } from './forms.js';

const POLL_MS = 5000;
const st = { rows: [], fetchedAt: 0, timer: null, source: null, countdown: null, active: false,
             onOpenUe: null };

function say(msg) {
  $('#status-line').textContent = msg;
}

async function fetchRegs(api) {
  try {
    const r = await call(api, 'GET', '/api/v1/registrations');
    return { items: r.data.items || [] };
  } catch (e) {
    return { items: [], error: e };
  }
}

export async function refresh() {
  const [s, p] = await Promise.all([fetchRegs('scscf'), fetchRegs('pcscf')]);
  const errs = [s.error, p.error].filter(Boolean).map(e => e.message);
  $('#reg-error').textContent = errs.join(' ');
  const pc = new Map();
  for (const r of p.items) pc.set(r.impu, r);
  const rows = [];
  for (const r of s.items) {
    const seen = pc.get(r.impu);
    for (const c of r.contacts || []) rows.push({ impu: r.impu, c, at: ['S-CSCF'].concat(seen ? ['P-CSCF'] : []) });
    pc.delete(r.impu);
  }
  // Registrations only the P-CSCF still holds (the S-CSCF lost or removed them).
  for (const r of pc.values()) {
    for (const c of r.contacts || []) rows.push({ impu: r.impu, c, at: ['P-CSCF'] });
  }
  st.rows = rows;
  st.fetchedAt = Date.now();
  render();
}

function left(c) {
  const v = c.expires_in - Math.floor((Date.now() - st.fetchedAt) / 1000);
  return Math.max(0, v);
}

function fmtLeft(s) {
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

function render() {
  const tb = $('#reg-table tbody');
  if (!st.rows.length) {
    tb.replaceChildren(h('tr', {}, h('td', { colspan: 6 }, 'No live registrations.')));
    return;
  }
  tb.replaceChildren(...st.rows.map(row => h('tr', { 'data-impu': row.impu, class: row.at[0] === 'S-CSCF' ? null : 'stale' },
    h('td', { 'data-label': 'IMPU', class: 'mono' }, row.impu),
    h('td', { 'data-label': 'Contact', class: 'mono' }, row.c.uri,
      row.c.received ? h('div', { class: 'hint' }, 'from ' + row.c.received) : null,
      row.c.transport ? h('div', { class: 'hint' }, row.c.transport) : null),
    h('td', { 'data-label': 'Expires in', class: 'expiry', 'data-expires': row.c.expires_in }, fmtLeft(left(row.c))),
    h('td', { 'data-label': 'User agent' }, row.c.user_agent || '—'),
    h('td', { 'data-label': 'Seen by', class: 'nowrap' }, row.at.join(', '),
      row.at[0] === 'S-CSCF' ? null
        : h('div', { class: 'hint' }, 'P-CSCF only: the S-CSCF no longer has it; the P-CSCF forgets it at expiry'),
      row.c.protected !== undefined ? h('div', { class: 'hint' }, row.c.protected ? 'IPsec protected' : 'unprotected') : null),
    h('td', { 'data-label': 'Actions' }, h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'small secondary', 'aria-label': `Open UE ${row.impu}`,
                    onclick: () => st.onOpenUe && st.onOpenUe(row.impu) }, 'UE details'),
      row.at[0] !== 'S-CSCF' ? null : [
      h('button', { type: 'button', class: 'small secondary', 'aria-label': `Shorten ${row.impu}`,
                    onclick: () => shorten(row.impu) }, 'Shorten'),
      h('button', { type: 'button', class: 'small danger', 'aria-label': `Deregister ${row.impu}`,
                    onclick: () => deregister(row.impu, 'deactivated') }, 'Deregister'),
      h('button', { type: 'button', class: 'small danger', 'aria-label': `Deregister ${row.impu} and reject`,
                    onclick: () => deregister(row.impu, 'rejected') }, 'Reject')])))));
}

function tick() {
  document.querySelectorAll('#reg-table td.expiry').forEach((td, i) => {
    const row = st.rows[i];
    if (row) td.textContent = fmtLeft(left(row.c));
  });
}

async function deregister(impu, reason) {
  $('#reg-action-error').textContent = '';
  const what = reason === 'rejected' ? 'deregister it and tell the UE not to come back (rejected)'
    : 'deregister it (deactivated: the UE should register again)';
  if (!(await confirmDialog(`${impu}: ${what}?`, 'Deregister'))) return;
  try {
    await call('scscf', 'DELETE', `/api/v1/registrations/${encodeURIComponent(impu)}?reason=${reason}`);
    say(`${impu} deregistered (${reason}).`);
  } catch (e) {
    $('#reg-action-error').textContent = e.message;
  }
  await refresh();
}

async function shorten(impu) {
  $('#reg-action-error').textContent = '';
  const v = window.prompt(`New expiry for ${impu}, in seconds`, '60');
  if (v === null) return;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    $('#reg-action-error').textContent = 'The new expiry must be a whole number of seconds above 0.';
    return;
  }
  try {
    await call('scscf', 'POST', `/api/v1/registrations/${encodeURIComponent(impu)}/shorten`, { expires: n });
    say(`${impu} shortened to ${n} s.`);
  } catch (e) {
    // This build's S-CSCF reads ".../shorten" as an IMPU it does not know.
    $('#reg-action-error').textContent = e.status === 404 || e.status === 405
      ? `Shorten is not available on this build (${e.message})` : e.message;
  }
  await refresh();
}

function poll(note) {
  $('#reg-mode').textContent = note;
  clearInterval(st.timer);
  st.timer = setInterval(() => { if (st.active) refresh(); }, POLL_MS);
}

// The stream is read like the other GETs of the status API (no token; EventSource cannot
// send one). A 404 means this build has no stream: poll instead.
async function live() {
  if (st.source || !window.EventSource) return;
  // A GET given up as soon as the status is known: a stream's body never ends.
  let probe;
  const stop = new AbortController();
  try {
    probe = await fetch(apiUrl('scscf', '/api/v1/events'), { cache: 'no-store', signal: stop.signal });
  } catch (e) {
    probe = null;
  }
  stop.abort();
  if (!probe || probe.status === 404) {
    poll(`Live stream (/api/v1/events) not available on this build: refreshing every ${POLL_MS / 1000} s.`);
    return;
  }
  const es = new EventSource(apiUrl('scscf', '/api/v1/events'));
  st.source = es;
  let pending = null;
  const kick = () => { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 300); };
  es.onmessage = kick;
  es.addEventListener('timeline', kick);
  es.onopen = () => { $('#reg-mode').textContent = 'Live: following the S-CSCF event stream.'; clearInterval(st.timer); };
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      st.source = null;
      poll(`Event stream closed: refreshing every ${POLL_MS / 1000} s.`);
    }
  };
}

export function activate(on) {
  st.active = on;
  if (on) {
    refresh();
    live();
    if (!st.countdown) st.countdown = setInterval(tick, 1000);
  }
}

export function initRegistrations(onOpenUe) {
  st.onOpenUe = onOpenUe;
  $('#reg-refresh').addEventListener('click', refresh);
}
