// Subscribers tab: server-side paged list with IMSI-prefix / MSISDN / IMPU search, the add and
// edit form (digest or AKA), delete with confirmation, SQN reset, and bulk add of a range.
import { call } from './api.js';
import { $, addDigits, clearErrors, confirmDialog, h, rules, setFieldError, showApiError,
         validate } from './forms.js';

const PAGE = 50;
const view = { offset: 0, total: 0, query: null };

const f = {};
function fields() {
  for (const n of ['imsi', 'msisdn', 'password', 'k', 'opc', 'amf', 'sqn']) f[n] = $('#f-' + n);
  return f;
}

function scheme(name) {
  return document.querySelector(`input[name="${name}"]:checked`).value;
}

function showScheme(group, attr) {
  const s = scheme(group);
  document.querySelectorAll(`[${attr}]`).forEach(n => { n.hidden = n.getAttribute(attr) !== s; });
}

function say(msg) {
  $('#status-line').textContent = msg;
}

export async function loadPage() {
  const err = $('#list-error');
  err.textContent = '';
  let items = [], total = 0;
  try {
    if (view.query && view.query.kind !== 'imsi') {
      const uri = view.query.kind === 'msisdn' ? 'tel:' + view.query.q : view.query.q;
      try {
        const r = await call('hss', 'GET', '/api/v1/impus/' + encodeURIComponent(uri));
        items = [r.data];
        total = 1;
      } catch (e) {
        if (e.status !== 404) throw e;
      }
    } else {
      const pre = view.query ? '&imsi_prefix=' + encodeURIComponent(view.query.q) : '';
      const r = await call('hss', 'GET', `/api/v1/subscribers?limit=${PAGE}&offset=${view.offset}${pre}`);
      items = r.data.items;
      total = r.data.total;
    }
  } catch (e) {
    err.textContent = e.message;
    return;
  }
  view.total = total;
  render(items);
}

function impusText(s) {
  return (s.impus || []).map(i => i.uri + (i.barred ? ' (barred)' : '')).join('\n');
}

function render(items) {
  const tb = $('#sub-table tbody');
  tb.replaceChildren(...items.map(s => {
    const aka = s.auth && s.auth.scheme === 'aka';
    const reg = s.registration && s.registration.state === 'registered';
    return h('tr', {},
      h('td', { 'data-label': 'IMSI', class: 'mono nowrap' }, s.imsi),
      h('td', { 'data-label': 'MSISDN', class: 'mono nowrap' }, s.msisdn || '—'),
      h('td', { 'data-label': 'Identities', class: 'mono' },
        (s.impus || []).map(i => h('div', {}, i.uri, i.barred ? h('span', { class: 'badge' }, 'barred') : null))),
      h('td', { 'data-label': 'Auth', class: 'nowrap' }, aka ? 'AKA' : 'digest',
        aka ? h('div', { class: 'hint mono' }, `SQN ${s.auth.sqn || '?'}`) : null),
      h('td', { 'data-label': 'State' }, h('span', { class: 'badge' + (reg ? ' on' : '') }, reg ? 'registered' : 'unregistered')),
      h('td', { 'data-label': 'Actions' }, h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'small secondary', 'aria-label': `Edit ${s.imsi}`, onclick: () => edit(s) }, 'Edit'),
        aka ? h('button', { type: 'button', class: 'small secondary', 'aria-label': `Reset SQN of ${s.imsi}`, onclick: () => resetSqn(s) }, 'Reset SQN') : null,
        h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${s.imsi}`, onclick: () => remove(s) }, 'Delete'))));
  }));
  const from = items.length ? view.offset + 1 : 0;
  const to = view.offset + items.length;
  const what = view.query ? ` matching “${view.query.q}”` : '';
  $('#page-info').textContent = `${from}–${to} of ${view.total.toLocaleString('en')}${what}`;
  $('#sub-caption').textContent = `Subscribers ${from}–${to} of ${view.total.toLocaleString('en')}${what}`;
  $('#page-prev').disabled = view.offset === 0;
  $('#page-next').disabled = view.offset + PAGE >= view.total;
}

async function remove(s) {
  if (!(await confirmDialog(`Delete subscriber ${s.imsi}? This cannot be undone.`))) return;
  try {
    await call('hss', 'DELETE', '/api/v1/subscribers/' + s.imsi);
    say(`Subscriber ${s.imsi} deleted.`);
    await loadPage();
  } catch (e) {
    $('#list-error').textContent = e.message;
  }
}

async function resetSqn(s) {
  const v = window.prompt(`New SQN for ${s.imsi} (12 hex digits)`, '000000000000');
  if (v === null) return;
  const bad = rules.sqn(v.trim());
  if (bad) {
    $('#list-error').textContent = bad;
    return;
  }
  try {
    await call('hss', 'PATCH', '/api/v1/subscribers/' + s.imsi, { auth: { sqn: v.trim().toLowerCase() } },
               { contentType: 'application/merge-patch+json' });
    say(`SQN of ${s.imsi} reset to ${v.trim()}.`);
    await loadPage();
  } catch (e) {
    $('#list-error').textContent = e.message;
  }
}

function setMode(mode, s) {
  const form = $('#sub-form');
  clearErrors(form);
  $('#ok-form').textContent = '';
  $('#f-mode').value = mode;
  const editing = mode === 'edit';
  $('#sub-form-h').textContent = editing ? `Edit subscriber ${s.imsi}` : 'Add a subscriber';
  $('#f-submit').textContent = editing ? 'Save changes' : 'Add subscriber';
  $('#f-cancel').hidden = !editing;
  $('#f-edit-note').hidden = !editing;
  f.imsi.readOnly = editing;
  for (const n of ['password', 'k', 'opc']) f[n].value = '';
  $('#f-is-op').checked = false;
  if (editing) {
    f.imsi.value = s.imsi;
    f.msisdn.value = s.msisdn || '';
    const aka = s.auth && s.auth.scheme === 'aka';
    document.querySelector(`input[name="scheme"][value="${aka ? 'aka' : 'digest'}"]`).checked = true;
    if (aka) {
      f.amf.value = s.auth.amf || '8000';
      f.sqn.value = s.auth.sqn || '000000000000';
      $('#f-alg').value = s.auth.algorithm || 'AKAv1-MD5';
    }
    form.dataset.scheme = aka ? 'aka' : 'digest';
    form.dataset.msisdn = s.msisdn || '';
  } else {
    form.reset();
    $('#f-mode').value = 'add';
  }
  showScheme('scheme', 'data-scheme');
}

function edit(s) {
  setMode('edit', s);
  f.msisdn.focus();
  f.msisdn.scrollIntoView({ block: 'center' });
}

function authDoc(editing, oldScheme) {
  const sch = scheme('scheme');
  const keep = editing && sch === oldScheme; // secrets may stay as stored
  if (sch === 'digest') {
    const pw = f.password.value;
    return keep && !pw ? null : { scheme: 'digest', password: pw };
  }
  const a = { scheme: 'aka', amf: f.amf.value.trim(), sqn: f.sqn.value.trim(), algorithm: $('#f-alg').value };
  if (f.k.value.trim()) a.k = f.k.value.trim();
  if (f.opc.value.trim()) a[$('#f-is-op').checked ? 'op' : 'opc'] = f.opc.value.trim();
  return a;
}

async function submit(ev) {
  ev.preventDefault();
  const form = $('#sub-form');
  clearErrors(form);
  $('#ok-form').textContent = '';
  const editing = $('#f-mode').value === 'edit';
  const sch = scheme('scheme');
  const keep = editing && sch === form.dataset.scheme;
  const checks = [[f.imsi, 'imsi'], [f.msisdn, 'msisdn']];
  if (sch === 'digest' && !(keep && !f.password.value)) checks.push([f.password, 'password']);
  if (sch === 'aka') {
    if (!keep || f.k.value) checks.push([f.k, 'k']);
    if (!keep || f.k.value || f.opc.value) checks.push([f.opc, 'opc']);
    checks.push([f.amf, 'amf'], [f.sqn, 'sqn']);
  }
  if (!validate(checks)) return;
  const imsi = f.imsi.value.trim(), msisdn = f.msisdn.value.trim();
  const auth = authDoc(editing, form.dataset.scheme);
  try {
    if (editing) {
      const patch = { msisdn: msisdn || null };
      // A new MSISDN gets its derived IMPUs (sip:MSISDN@domain, tel:MSISDN) again.
      if (msisdn !== form.dataset.msisdn) patch.impus = null;
      if (auth) patch.auth = auth;
      await call('hss', 'PATCH', '/api/v1/subscribers/' + imsi, patch, { contentType: 'application/merge-patch+json' });
      $('#ok-form').textContent = `Subscriber ${imsi} saved.`;
      setMode('add');
    } else {
      const doc = { imsi, auth };
      if (msisdn) doc.msisdn = msisdn;
      await call('hss', 'POST', '/api/v1/subscribers', doc);
      form.reset();
      showScheme('scheme', 'data-scheme');
      $('#ok-form').textContent = `Subscriber ${imsi} added.`;
    }
    // Typed secrets never stay in the page after they were sent.
    for (const n of ['password', 'k', 'opc']) f[n].value = '';
    await loadPage();
  } catch (e) {
    showApiError(e, f, $('#e-form'));
  }
}

async function bulk(ev) {
  ev.preventDefault();
  const form = $('#bulk-form');
  clearErrors(form);
  $('#ok-bulk').textContent = '';
  const b = { imsi: $('#b-imsi'), count: $('#b-count'), msisdn: $('#b-msisdn'), password: $('#b-password'),
              k: $('#b-k'), opc: $('#b-opc') };
  const sch = scheme('b-scheme');
  const checks = [[b.imsi, 'imsi'], [b.msisdn, 'msisdn']];
  checks.push(...(sch === 'digest' ? [[b.password, 'password']] : [[b.k, 'k'], [b.opc, 'opc']]));
  let ok = validate(checks);
  const n = Number(b.count.value.trim());
  if (!Number.isInteger(n) || n < 1 || n > 10000) {
    setFieldError(b.count, 'Count must be a whole number from 1 to 10000.');
    if (ok) b.count.focus();
    ok = false;
  }
  if (!ok) return;
  const imsi0 = b.imsi.value.trim(), msisdn0 = b.msisdn.value.trim();
  if (!addDigits(imsi0, n - 1)) {
    setFieldError(b.imsi, `${n} IMSIs from ${imsi0} do not fit in ${imsi0.length} digits.`);
    b.imsi.focus();
    return;
  }
  if (msisdn0 && !addDigits(msisdn0, n - 1)) {
    setFieldError(b.msisdn, `${n} MSISDNs from ${msisdn0} do not fit in ${msisdn0.length} digits.`);
    b.msisdn.focus();
    return;
  }
  const auth = sch === 'digest' ? { scheme: 'digest', password: b.password.value }
    : { scheme: 'aka', k: b.k.value.trim(), opc: b.opc.value.trim() };
  const items = [];
  for (let i = 0; i < n; i++) {
    const doc = { imsi: addDigits(imsi0, i), auth };
    if (msisdn0) doc.msisdn = addDigits(msisdn0, i);
    items.push(doc);
  }
  $('#b-submit').disabled = true;
  try {
    const r = await call('hss', 'POST', '/api/v1/subscribers', items);
    $('#ok-bulk').textContent = `${r.data.total} subscribers added (${imsi0} to ${addDigits(imsi0, n - 1)}).`;
    b.password.value = b.k.value = b.opc.value = '';
    await loadPage();
  } catch (e) {
    // A bulk error names the item ("item 3: IMSI ... already belongs ..."): say which IMSI.
    const idx = e.detail && Number.isInteger(e.detail.index) ? e.detail.index : null;
    const imsi = idx !== null ? addDigits(imsi0, idx) : null;
    const which = idx === null ? '' : (e.message.includes(imsi) ? '' : ` (IMSI ${imsi})`) + '; nothing was stored';
    showApiError({ ...e, message: e.message.replace(/\.$/, '') + which + '.', detail: e.detail },
                 b, $('#e-bulk'));
  } finally {
    $('#b-submit').disabled = false;
  }
}

export function initSubscribers() {
  fields();
  document.querySelectorAll('input[name="scheme"]').forEach(r => r.addEventListener('change', () => showScheme('scheme', 'data-scheme')));
  document.querySelectorAll('input[name="b-scheme"]').forEach(r => r.addEventListener('change', () => showScheme('b-scheme', 'data-bscheme')));
  $('#sub-form').addEventListener('submit', submit);
  $('#f-cancel').addEventListener('click', () => setMode('add'));
  $('#bulk-form').addEventListener('submit', bulk);
  $('#search-form').addEventListener('submit', ev => {
    ev.preventDefault();
    const q = $('#search-q').value.trim();
    const kind = $('#search-kind').value;
    const bad = !q ? '' : kind === 'imsi' && !/^\d{1,15}$/.test(q) ? 'An IMSI prefix is 1 to 15 digits.'
      : kind === 'msisdn' && !/^\d{1,15}$/.test(q) ? 'An MSISDN is 1 to 15 digits.'
      : kind === 'impu' && !/^(sip|sips|tel):/.test(q) ? 'An IMPU starts with sip: or tel:.' : '';
    $('#list-error').textContent = bad;
    if (bad) return;
    view.query = q ? { kind, q } : null;
    view.offset = 0;
    loadPage();
  });
  const examples = { imsi: 'e.g. 43201', msisdn: 'e.g. 98098765432100', impu: 'e.g. sip:user@domain or tel:+1555…' };
  $('#search-kind').addEventListener('change', () => { $('#search-q').placeholder = examples[$('#search-kind').value]; });
  $('#search-clear').addEventListener('click', () => {
    $('#search-q').value = '';
    view.query = null;
    view.offset = 0;
    loadPage();
  });
  $('#page-prev').addEventListener('click', () => { view.offset = Math.max(0, view.offset - PAGE); loadPage(); });
  $('#page-next').addEventListener('click', () => { view.offset += PAGE; loadPage(); });
}
