// Overview tab: samples both CSCFs' /metrics every 5 s while shown and keeps the last
// 10 minutes in memory for three small charts.
import { call } from './api.js';
import { $ } from './forms.js';
import { barChart, lineChart, metric, parsePrometheus } from './metrics.js';

const SAMPLE_MS = 5000, KEEP_MS = 10 * 60 * 1000;
const hist = { rate: [], sb: [], pb: [] };
let last = null, timer = null;

async function scrape(api) {
  try {
    return { samples: parsePrometheus((await call(api, 'GET', '/metrics')).text) };
  } catch (e) {
    return { samples: [], error: e };
  }
}

export async function sample() {
  const [s, p] = await Promise.all([scrape('scscf'), scrape('pcscf')]);
  $('#overview-error').textContent = [s.error, p.error].filter(Boolean).map(e => e.message).join(' ');
  const now = Date.now();
  const ok = metric(s.samples, 'scscf_registrations_total');
  if (ok !== null && last && now > last.t) {
    hist.rate.push([now, Math.max(0, (ok - last.ok) / ((now - last.t) / 1000))]);
  }
  if (ok !== null) last = { t: now, ok };
  hist.sb.push([now, metric(s.samples, 'scscf_bindings')]);
  hist.pb.push([now, metric(p.samples, 'pcscf_bindings')]);
  for (const k of Object.keys(hist)) hist[k] = hist[k].filter(([t]) => now - t <= KEEP_MS);
  $('#chart-rate').replaceChildren(lineChart([{ name: 'REGISTER 200/s', points: hist.rate }],
                                             { label: 'Registrations per second' }));
  $('#chart-bindings').replaceChildren(lineChart([{ name: 'S-CSCF', points: hist.sb },
                                                  { name: 'P-CSCF', points: hist.pb }],
                                                 { label: 'Bindings' }));
  const fails = s.samples.filter(x => x.name === 'scscf_error_replies_total')
    .map(x => ({ name: `${x.labels.code || ''} ${x.labels.reason || ''}`.trim(), value: x.value }));
  $('#chart-failures').replaceChildren(barChart(fails, { label: 'Failures by cause' }));
}

export function activate(on) {
  clearInterval(timer);
  timer = null;
  if (on) {
    // A second sample after 1 s gives a first rate at once.
    sample().then(() => setTimeout(() => { if (timer) sample(); }, 1000));
    timer = setInterval(sample, SAMPLE_MS);
  }
}
