// Form helpers shared by the panels: field errors shown next to the field (and announced),
// validation rules of the provisioning API, and mapping an API error onto the field it names.

export const $ = (sel, root = document) => root.querySelector(sel);

export function setFieldError(input, msg) {
  const span = document.getElementById(input.getAttribute('aria-describedby'));
  if (span) span.textContent = msg || '';
  if (msg) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

export function clearErrors(form) {
  form.querySelectorAll('[aria-invalid]').forEach(i => setFieldError(i, ''));
  form.querySelectorAll('.field-error').forEach(s => { s.textContent = ''; });
}

const HEX = (n) => new RegExp(`^[0-9a-fA-F]{${n}}$`);

// Each rule returns an error sentence or ''.
export const rules = {
  imsi: v => (/^\d{5,15}$/.test(v) ? '' : 'IMSI must be 5 to 15 digits.'),
  msisdn: v => (v === '' || /^\d{1,15}$/.test(v) ? '' : 'MSISDN must be 1 to 15 digits.'),
  password: v => (v === '' ? 'Enter a password.' :
    new TextEncoder().encode(v).length > 128 ? 'The password is longer than 128 bytes.' : ''),
  k: v => (HEX(32).test(v) ? '' : 'K must be exactly 32 hex digits.'),
  opc: v => (HEX(32).test(v) ? '' : 'OPc (or OP) must be exactly 32 hex digits.'),
  amf: v => (HEX(4).test(v) ? '' : 'AMF must be exactly 4 hex digits.'),
  sqn: v => (HEX(12).test(v) ? '' : 'SQN must be exactly 12 hex digits.'),
};

// Runs rules over [input, ruleName] pairs; shows every error and focuses the first bad
// field. Returns true when all pass.
export function validate(pairs) {
  let first = null;
  for (const [input, rule] of pairs) {
    const msg = rules[rule](input.value.trim());
    setFieldError(input, msg);
    if (msg && !first) first = input;
  }
  if (first) first.focus();
  return !first;
}

// The API's messages name the field ("auth.k must be...", "IMSI 001... already belongs",
// "msisdn must be..."): show the message next to that field, else under the form.
export function showApiError(err, fields, formError) {
  const m = (err.detail && err.detail.message) || '';
  const tests = [
    [/\bauth\.(opc|op)\b/i, 'opc'], [/\bauth\.k\b/i, 'k'], [/\bauth\.amf\b/i, 'amf'],
    [/\bauth\.sqn\b/i, 'sqn'], [/\bauth\.password\b/i, 'password'], [/\bmsisdn\b/i, 'msisdn'],
    [/\bIMPU\b/, 'msisdn'], [/\b(imsi|impi)\b/i, 'imsi'],
  ];
  for (const [re, name] of tests) {
    if (re.test(m) && fields[name] && !fields[name].closest('[hidden]')) {
      setFieldError(fields[name], err.message);
      fields[name].focus();
      return;
    }
  }
  formError.textContent = err.message;
}

// Ask before destroying something; resolves true when confirmed.
export function confirmDialog(text, okLabel = 'Delete') {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  return new Promise(resolve => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

// Element builder for tables: text only, so nothing from an API is parsed as markup.
export function h(tag, attrs = {}, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'onclick') n.addEventListener('click', v);
    else if (v !== undefined && v !== null && v !== false) n.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    n.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return n;
}

// Adds n to a digit string, keeping its length; null when it would overflow.
export function addDigits(start, n) {
  const v = BigInt(start) + BigInt(n);
  const s = v.toString().padStart(start.length, '0');
  return s.length > start.length ? null : s;
}
