// The console's entry point: loads config.json, wires the tabs (one per URL hash, so links
// and the back button work) and the token/settings form.
import { APIS, config, loadConfig, setBase, setToken, token } from './api.js';
import { $, h } from './forms.js';
import * as overview from './overview.js';
import { initSubscribers, loadPage } from './subscribers.js';
import * as regs from './registrations.js';
import { initUe, openUe } from './ue.js';

const TABS = ['overview', 'subscribers', 'registrations', 'ue', 'settings'];

function route() {
  const [tab, arg] = decodeURIComponent(location.hash.slice(1)).split(/\/(.*)/s);
  const name = TABS.includes(tab) ? tab : 'subscribers';
  for (const t of TABS) $('#' + t).hidden = t !== name;
  document.querySelectorAll('[data-tab]').forEach(a => {
    if (a.dataset.tab === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  statusLine(); // the last action's words belong to the tab they were said on
  overview.activate(name === 'overview');
  regs.activate(name === 'registrations');
  if (name === 'subscribers') loadPage();
  if (name === 'ue') openUe(arg || $('#ue-impu').value.trim());
  document.title = `${name[0].toUpperCase() + name.slice(1)} — IMS lab console`;
}

function go(tab, arg) {
  const hash = '#' + tab + (arg ? '/' + encodeURIComponent(arg) : '');
  if (location.hash === hash) route(); // the same UE again: reload its panels
  else location.hash = hash;
}

function settingsForm() {
  const box = document.querySelector('.api-settings');
  box.replaceChildren(...Object.entries(APIS).map(([api, name]) => h('fieldset', {},
    h('legend', {}, name),
    h('div', { class: 'field' }, h('label', { for: `s-base-${api}` }, `${name} API address`),
      h('input', { id: `s-base-${api}`, value: config[api] || '', placeholder: api === 'hss' ? '(this page\'s origin)' : '',
                   spellcheck: 'false', autocomplete: 'off' })),
    h('div', { class: 'field' }, h('label', { for: `s-token-${api}` }, `${name} bearer token`),
      // Never prefilled: a stored token is only said to exist.
      h('input', { id: `s-token-${api}`, type: 'password', autocomplete: 'off',
                   placeholder: token(api) ? 'a token is set (type to replace)' : 'none' })))));
  $('#settings-form').onsubmit = ev => {
    ev.preventDefault();
    for (const api of Object.keys(APIS)) {
      setBase(api, $(`#s-base-${api}`).value.trim());
      const t = $(`#s-token-${api}`).value.trim();
      if (t) setToken(api, t);
    }
    settingsForm();
    $('#settings-ok').textContent = 'Saved for this browser tab.';
    statusLine();
  };
  $('#tokens-forget').onclick = () => {
    for (const api of Object.keys(APIS)) setToken(api, '');
    settingsForm();
    $('#settings-ok').textContent = 'Tokens forgotten.';
    statusLine();
  };
}

function statusLine() {
  const parts = Object.entries(APIS).map(([api, name]) =>
    `${name} ${config[api] || location.origin}${token(api) ? ' (token set)' : ''}`);
  $('#status-line').textContent = parts.join(' · ');
}

async function main() {
  await loadConfig();
  settingsForm();
  statusLine();
  initSubscribers();
  regs.initRegistrations(impu => go('ue', impu));
  initUe(impu => go('ue', impu));
  window.addEventListener('hashchange', route);
  route();
}

main();
