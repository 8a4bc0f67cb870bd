// app.js — the GateRouter web console: one page per hash route, read from the
// admin API with the signed-in token as a bearer header (sessionStorage; no
// cookies). Every value from the gateway is inserted as text (textContent,
// never innerHTML): model names, metadata and key names are attacker-chosen.
'use strict';

const TOKEN = 'gaterouter.console.token';
const state = { token: sessionStorage.getItem(TOKEN) || '', who: null, charts: [] };

// ---- DOM helpers (text only) ----
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
const $ = (id) => document.getElementById(id);
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

function table(cols, rows, onRow) {
  const thead = el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c.title))));
  const tbody = el('tbody');
  for (const r of rows) {
    const tr = el('tr', onRow ? { class: 'clickable', tabindex: '0' } : {},
      cols.map((c) => { const v = c.get(r); return el('td', c.num ? { class: 'num' } : {}, v instanceof Node ? v : v ?? ''); }));
    if (onRow) tr.addEventListener('click', () => onRow(r, tr));
    tbody.append(tr);
  }
  if (!rows.length) tbody.append(el('tr', {}, el('td', { colspan: String(cols.length), class: 'muted' }, 'Nothing here yet.')));
  return el('table', {}, thead, tbody);
}

const usd = (v) => (v === null || v === undefined ? '—' : `$${Number(v).toFixed(6).replace(/0{1,4}$/, '')}`);
const num = (v) => (v === null || v === undefined ? '—' : Number(v).toLocaleString('en-US'));
const when = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '—');
const ms = (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(1)} ms`);

// ---- the API ----
async function api(path, opts = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (opts.body !== undefined) headers['Content-Type'] = opts.type || 'application/json';
  const r = await fetch(path, { method: opts.method || 'GET', headers, body: opts.body, cache: 'no-store' });
  const text = await r.text();
  if (opts.raw) { if (!r.ok) throw new Error(`${r.status}: ${text.slice(0, 300)}`); return text; }
  let body = null;
  try { body = JSON.parse(text); } catch { body = null; }
  if (!r.ok) {
    const e = new Error(body?.error?.message || `HTTP ${r.status}`);
    e.status = r.status;
    e.body = body;
    throw e;
  }
  return body;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- charts (uPlot) ----
const PALETTE = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0550ae', '#57606a', '#953800'];
function chart(title, t, series, opts = {}) {
  const box = el('div', { class: 'chart' }, el('h3', {}, title));
  const width = Math.max(320, Math.min(560, (document.body.clientWidth - 80) / 2));
  const data = [t.map((x) => x / 1000), ...series.map((s) => s.values)];
  const u = new uPlot({
    width, height: 200,
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, value: opts.fmt ? (_, v) => (v === null ? '—' : opts.fmt(v)) : undefined }))],
    axes: [{}, { size: 60, values: opts.fmt ? (_, ticks) => ticks.map(opts.fmt) : undefined }],
    legend: { live: false },
  }, data, box);
  state.charts.push(u);
  return box;
}

// ---- pages ----
const pages = {};

function card(label, value) { return el('div', { class: 'stat' }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value)); }

pages.overview = async (root) => {
  const range = new URLSearchParams(location.hash.split('?')[1] || '').get('range') || 'day';
  const pick = el('div', { class: 'tabs' }, ['hour', 'day', 'month'].map((r) =>
    el('a', { href: `#/overview?range=${r}`, class: r === range ? 'active' : '' }, r === 'month' ? 'last 30 days' : `last ${r}`)));
  root.append(el('h1', {}, 'Overview'), pick);
  const d = await api(`/admin/report/timeseries${qs({ range })}`);
  const sum = (a) => a.reduce((x, y) => x + (y || 0), 0);
  root.append(el('div', { class: 'stats' },
    card('Requests', num(sum(d.requests))), card('Errors', num(sum(d.errors))),
    card('Tokens', num(sum(d.tokens_prompt) + sum(d.tokens_completion))), card('Spend', usd(sum(d.cost_usd)))));
  if (d.truncated) root.append(el('p', { class: 'warn' }, 'Only the newest rows were read (console.max_report_rows).'));
  root.append(el('div', { class: 'charts' },
    chart('Requests and errors', d.t, [{ label: 'requests', values: d.requests }, { label: 'errors', values: d.errors }]),
    chart('Latency and time to first token (ms)', d.t, [
      { label: 'p50', values: d.latency_p50_ms }, { label: 'p99', values: d.latency_p99_ms },
      { label: 'TTFT p50', values: d.ttft_p50_ms }, { label: 'TTFT p99', values: d.ttft_p99_ms }]),
    chart('Tokens', d.t, [{ label: 'prompt', values: d.tokens_prompt }, { label: 'completion', values: d.tokens_completion }]),
    chart('Spend by model (USD)', d.t, d.by_model.map((s) => ({ label: s.name, values: s.cost_usd_series })), { fmt: (v) => v.toFixed(4) }),
    chart('Spend by provider (USD)', d.t, d.by_provider.map((s) => ({ label: s.name, values: s.cost_usd_series })), { fmt: (v) => v.toFixed(4) })));
  root.append(el('h2', {}, 'By model'), table([
    { title: 'model', get: (s) => s.name }, { title: 'requests', num: 1, get: (s) => num(s.requests) },
    { title: 'spend', num: 1, get: (s) => usd(s.cost_usd) }], d.by_model.filter((s) => s.requests !== undefined)));
};

function limitText(v, money) { return v === null || v === undefined ? 'none' : money ? usd(v) : num(v); }

function keyForm(k, onDone) {
  const f = (name, label, value, type = 'text') => el('label', {}, label, el('input', { name, type, value: value ?? '' }));
  const lim = k?.limits || {};
  const form = el('form', { class: 'grid' },
    f('name', 'Name', k?.name),
    f('budget_usd', 'Budget total (USD)', lim.budget_usd), f('budget_daily_usd', 'Budget daily (USD)', lim.budget_daily_usd),
    f('budget_monthly_usd', 'Budget monthly (USD)', lim.budget_monthly_usd), f('rpm', 'RPM', lim.rpm), f('tpm', 'TPM', lim.tpm),
    f('models', 'Allowed models (comma-separated; empty = all)', (k?.models || []).join(',')),
    f('metadata', 'Metadata (JSON object)', k?.metadata ? JSON.stringify(k.metadata) : ''),
    el('button', { type: 'submit' }, k ? 'Save' : 'Create key'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = Object.fromEntries(new FormData(form).entries());
    const body = {};
    if (v.name) body.name = v.name;
    for (const n of ['budget_usd', 'budget_daily_usd', 'budget_monthly_usd']) body[n] = v[n] === '' ? null : v[n];
    for (const n of ['rpm', 'tpm']) body[n] = v[n] === '' ? null : Number(v[n]);
    body.models = v.models.trim() ? v.models.split(',').map((s) => s.trim()).filter(Boolean) : null;
    try {
      if (v.metadata.trim()) body.metadata = JSON.parse(v.metadata);
      if (!k) for (const n of Object.keys(body)) if (body[n] === null) delete body[n];
      const r = await api(k ? `/admin/keys/${encodeURIComponent(k.id)}` : '/admin/keys', { method: k ? 'PATCH' : 'POST', body: JSON.stringify(body) });
      onDone(r);
    } catch (e) { form.append(el('p', { class: 'error' }, e.message)); }
  });
  return form;
}

function keyDetail(k) {
  const sp = k.spend || {}, rem = k.remaining || {}, lim = k.limits || {};
  return el('dl', { class: 'kv' }, [
    ['id', k.id], ['name', k.name], ['prefix', k.key_prefix], ['status', k.status], ['created', when(k.created_at)],
    ['models', (k.models || ['all']).join(', ')], ['metadata', k.metadata ? JSON.stringify(k.metadata) : '—'],
    ['spend total / budget', `${usd(sp.total_usd)} / ${limitText(lim.budget_usd, 1)}`],
    ['spend today / daily budget', `${usd(sp.daily_usd)} / ${limitText(lim.budget_daily_usd, 1)}`],
    ['spend this month / monthly budget', `${usd(sp.monthly_usd)} / ${limitText(lim.budget_monthly_usd, 1)}`],
    ['remaining', usd(rem.total_usd)], ['rpm / tpm', `${limitText(lim.rpm)} / ${limitText(lim.tpm)}`]]
    .flatMap(([a, b]) => [el('dt', {}, a), el('dd', {}, b ?? '—')]));
}

pages.keys = async (root) => {
  root.append(el('h1', {}, 'Keys'));
  if (state.who.role !== 'admin') { root.append(keyDetail(state.who.key)); return; }
  const out = el('div');
  const create = el('details', { class: 'card' }, el('summary', {}, 'Create a key'), keyForm(null, (r) => {
    clear(out).append(el('div', { class: 'secret card' }, el('p', {}, 'The new key — shown once, copy it now:'),
      el('code', { id: 'new-key-secret' }, r.key)));
    load();
  }));
  const list = el('div');
  root.append(create, out, list);
  async function load() {
    const d = await api('/admin/keys');
    clear(list).append(table([
      { title: 'name', get: (k) => k.name }, { title: 'id', get: (k) => k.id }, { title: 'prefix', get: (k) => k.key_prefix },
      { title: 'status', get: (k) => k.status },
      { title: 'spend / budget', get: (k) => `${usd(k.spend?.total_usd)} / ${limitText(k.limits?.budget_usd, 1)}` },
      { title: 'rpm', num: 1, get: (k) => limitText(k.limits?.rpm) }, { title: 'tpm', num: 1, get: (k) => limitText(k.limits?.tpm) },
      { title: '', get: (k) => actions(k) }], d.data));
  }
  function actions(k) {
    if (k.id.startsWith('cfg_')) return el('span', { class: 'muted' }, 'config');
    const box = el('span', { class: 'actions' });
    box.append(el('button', { type: 'button', onclick: () => {
      clear(out).append(el('div', { class: 'card' }, el('h3', {}, `Edit ${k.id}`), keyDetail(k), keyForm(k, () => { clear(out); load(); })));
    } }, 'Edit'));
    if (k.status !== 'revoked') {
      box.append(el('button', { type: 'button', class: 'danger', 'data-revoke': k.id, onclick: async () => {
        if (!confirm(`Revoke ${k.id}? Requests with it stop at once.`)) return;
        await api(`/admin/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
        load();
      } }, 'Revoke'));
      box.append(el('button', { type: 'button', 'data-rotate': k.id, onclick: async () => {
        const grace = prompt('Grace period in seconds for the old secret:', '3600');
        if (grace === null) return;
        try {
          const r = await api(`/admin/keys/${encodeURIComponent(k.id)}/rotate`, { method: 'POST', body: JSON.stringify({ grace_seconds: Number(grace) }) });
          clear(out).append(el('div', { class: 'secret card' }, el('p', {}, `New secret for ${k.id} — shown once (the old one works until ${when(r.previous_key_valid_until)}):`), el('code', {}, r.key)));
        } catch (e) { clear(out).append(el('p', { class: 'error' }, e.message)); }
      } }, 'Rotate'));
    }
    return box;
  }
  await load();
};

const DIMS = ['key', 'model', 'provider', 'day'];
pages.usage = async (root) => {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const sel = (name, val, opts) => el('select', { name }, opts.map((o) => el('option', { value: o, selected: o === val }, o || '—')));
  const f = (name, ph) => el('input', { name, placeholder: ph, value: p.get(name) || '' });
  const form = el('form', { class: 'filters' },
    el('label', {}, 'group by ', sel('by1', p.get('by1') || 'model', DIMS)), el('label', {}, ' then ', sel('by2', p.get('by2') || '', ['', ...DIMS])),
    el('label', {}, 'from ', el('input', { name: 'from', type: 'date', value: p.get('from') || '' })),
    el('label', {}, 'to ', el('input', { name: 'to', type: 'date', value: p.get('to') || '' })),
    state.who.role === 'admin' ? f('key_id', 'key id') : null, f('model', 'model'), f('provider', 'provider'),
    el('button', { type: 'submit' }, 'Apply'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = `#/usage${qs(Object.fromEntries(new FormData(form).entries()))}`;
  });
  const by = [p.get('by1') || 'model', p.get('by2')].filter((x, i, a) => x && a.indexOf(x) === i).join(',');
  const filters = { from: p.get('from'), to: p.get('to'), key_id: p.get('key_id'), model: p.get('model'), provider: p.get('provider') };
  const exp = (label, path, fmt) => el('button', { type: 'button', 'data-export': `${path}:${fmt}`, onclick: async () => {
    const text = await api(`/admin/report/${path}${qs({ ...filters, by: path === 'usage' ? by : undefined, format: fmt })}`, { raw: true });
    download(`gaterouter-${path}.${fmt}`, text, fmt === 'csv' ? 'text/csv' : 'application/json');
  } }, label);
  root.append(el('h1', {}, 'Usage explorer'), form,
    el('div', { class: 'exports' }, 'Export: ', exp('table CSV', 'usage', 'csv'), exp('table JSON', 'usage', 'json'),
      exp('ledger rows CSV', 'rows', 'csv'), exp('ledger rows JSON', 'rows', 'json')));
  const d = await api(`/admin/report/usage${qs({ ...filters, by })}`);
  const cols = d.group_by.map((g) => ({ title: g, get: (r) => r[g] }));
  root.append(table([...cols,
    { title: 'requests', num: 1, get: (r) => num(r.requests) }, { title: 'errors', num: 1, get: (r) => num(r.errors) },
    { title: 'prompt tokens', num: 1, get: (r) => num(r.tokens_prompt) }, { title: 'completion tokens', num: 1, get: (r) => num(r.tokens_completion) },
    { title: 'cost', num: 1, get: (r) => usd(r.cost_usd) }], d.data),
  el('p', { class: 'total' }, `Total: ${num(d.total.requests)} requests, ${num(d.total.errors)} errors, ${usd(d.total.cost_usd)}`));
};

function generationDetail(g) {
  const kv = [];
  const walk = (o, pre) => { for (const [k, v] of Object.entries(o)) { if (v && typeof v === 'object') walk(v, `${pre}${k}.`); else kv.push([pre + k, v === null ? '—' : String(v)]); } };
  walk(g, '');
  return el('dl', { class: 'kv', id: 'generation-detail' }, kv.flatMap(([a, b]) => [el('dt', {}, a), el('dd', {}, b)]));
}

pages.requests = async (root) => {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  const status = p.get('status') || '';
  root.append(el('h1', {}, 'Requests'), el('div', { class: 'tabs' }, [['', 'all'], ['ok', 'succeeded'], ['error', 'failed']].map(([v, t]) =>
    el('a', { href: `#/requests${qs({ status: v })}`, class: v === status ? 'active' : '' }, t))));
  const d = await api(`/admin/report/rows${qs({ limit: 100, status })}`);
  const detail = el('div', { class: 'card', hidden: true });
  root.append(detail, table([
    { title: 'time', get: (r) => when(r.created_at) }, { title: 'status', num: 1, get: (r) => r.status },
    { title: 'model', get: (r) => r.model }, { title: 'served', get: (r) => r.model_served }, { title: 'provider', get: (r) => r.provider },
    { title: 'route', get: (r) => el('span', { class: 'clip', title: r.route_reason || '' }, r.route_reason || '') },
    { title: 'attempts', num: 1, get: (r) => r.attempts },
    { title: 'latency', num: 1, get: (r) => ms(r.latency_ms) }, { title: 'tokens', num: 1, get: (r) => num(r.tokens_prompt + r.tokens_completion) },
    { title: 'cost', num: 1, get: (r) => usd(r.total_cost) }], d.data, async (r) => {
    const path = state.who.role === 'admin' ? '/admin/generation' : '/v1/generation';
    const g = await api(`${path}${qs({ id: r.id })}`);
    detail.hidden = false;
    clear(detail).append(el('h3', {}, `Generation ${g.data.id}`), generationDetail(g.data));
  }));
};

pages.routing = async (root) => {
  root.append(el('h1', {}, 'Routing'));
  const d = await api('/admin/report/routing');
  root.append(el('p', {}, `${num(d.auto_requests)} requests asked for auto.`), el('h2', {}, 'Share of traffic per model under auto'),
    table([{ title: 'model', get: (s) => s.model },
      { title: 'share', get: (s) => { const b = el('span', { class: 'bar' }); b.style.width = `${Math.round(s.share * 200)}px`; return el('span', {}, b, ` ${(s.share * 100).toFixed(1)}%`); } },
      { title: 'requests', num: 1, get: (s) => num(s.requests) }, { title: 'errors', num: 1, get: (s) => num(s.errors) },
      { title: 'spend', num: 1, get: (s) => usd(s.cost_usd) }], d.share),
    el('h2', {}, 'Quality and cost of auto from the last evaluation'),
    el('p', { class: 'muted' }, 'Offline, on held-out public benchmark prompts (tools/route/eval.mjs; docs/route_eval.md): auto with its value knob swept against single models and their frontier.'),
    el('img', { src: '/ui/route_eval.svg', alt: 'auto vs single models: quality against cost', class: 'eval' }),
    el('h2', {}, 'Recent decisions'),
    table([{ title: 'time', get: (r) => when(r.created_at) }, { title: 'asked', get: (r) => r.model }, { title: 'chose', get: (r) => r.model_served },
      { title: 'status', num: 1, get: (r) => r.status }, { title: 'reason', get: (r) => r.route_reason }, { title: 'cost', num: 1, get: (r) => usd(r.cost_usd) }], d.recent),
    el('h2', {}, 'Feedback received'),
    el('p', { class: 'muted' }, 'Ratings of auto decisions (POST /v1/feedback, gaterouter route calibrate), per model: the share rated good against what the router had predicted for the same prompts.'),
    d.feedback === null ? el('p', { class: 'muted' }, 'The store could not be read.')
      : table([{ title: 'model', get: (f) => f.model }, { title: 'ratings', num: 1, get: (f) => num(f.ratings) },
        { title: 'rated good', num: 1, get: (f) => `${(f.rated_good * 100).toFixed(1)}%` },
        { title: 'predicted', num: 1, get: (f) => `${(f.predicted_good * 100).toFixed(1)}%` }], d.feedback));
};

function txLink(tpl, tx) {
  if (!tx) return '—';
  if (!tpl || !/^0x[0-9a-fA-F]{64}$/.test(tx)) return tx;
  return el('a', { href: tpl.replace('{tx}', tx), target: '_blank', rel: 'noopener noreferrer' }, `${tx.slice(0, 10)}…${tx.slice(-6)}`);
}

pages.payments = async (root) => {
  root.append(el('h1', {}, 'Payments (x402)'));
  const d = await api('/admin/report/payments');
  if (!d.x402) root.append(el('p', { class: 'muted' }, 'x402 is not enabled in this config; rows below come from the ledger.'));
  root.append(el('p', { id: 'quotes' }, `${num(d.quotes)} quotes (402 answers to unpaid requests), ${num(d.payers.length)} payers.`));
  const pending = d.settlements.filter((s) => s.state === 'pending' || s.state === 'failed' || s.state === 'expired_unsettled');
  root.append(el('h2', {}, 'Payers'), table([
    { title: 'payer', get: (p) => p.payer }, { title: 'requests', num: 1, get: (p) => num(p.requests) },
    { title: 'paid (atomic)', num: 1, get: (p) => p.paid_atomic }, { title: 'spent', num: 1, get: (p) => usd(p.cost_usd) },
    { title: 'credit', num: 1, get: (p) => usd(p.credit_usd) }, { title: 'settled', num: 1, get: (p) => p.settled },
    { title: 'pending', num: 1, get: (p) => p.pending }, { title: 'failed', num: 1, get: (p) => p.failed }], d.payers),
  el('h2', {}, 'Pending and failed settlements'), settlements(pending),
  el('h2', {}, 'Settlements'), settlements(d.settlements),
  el('h2', {}, 'Revenue by day'), table([{ title: 'day', get: (r) => r.day }, { title: 'requests', num: 1, get: (r) => num(r.requests) },
    { title: 'paid (atomic)', num: 1, get: (r) => r.paid_atomic }, { title: 'metered', num: 1, get: (r) => usd(r.cost_usd) }], d.revenue_by_day));
  function settlements(rows) {
    return table([{ title: 'time', get: (s) => when(s.created_ms) }, { title: 'payer', get: (s) => s.payer }, { title: 'request', get: (s) => s.request_id },
      { title: 'network', get: (s) => s.network }, { title: 'scheme', get: (s) => s.scheme }, { title: 'amount', num: 1, get: (s) => s.amount },
      { title: 'state', get: (s) => s.state }, { title: 'transaction', get: (s) => txLink(d.explorer_tx_url, s.transaction) },
      { title: 'error', get: (s) => s.error || '' }], rows);
  }
};

pages.config = async (root) => {
  root.append(el('h1', {}, 'Config'));
  const d = await api('/admin/config');
  const lr = d.last_reload;
  root.append(el('dl', { class: 'kv' }, el('dt', {}, 'file'), el('dd', {}, d.path || '—'), el('dt', {}, 'loaded'), el('dd', {}, when(d.loaded_at)),
    el('dt', {}, 'last reload'), el('dd', { id: 'last-reload' }, lr ? `${lr.ok ? 'ok' : 'failed'} at ${when(lr.at)}${lr.error ? `: ${lr.error}` : ''}` : 'none since start')));
  const msg = el('p', { id: 'config-result' });
  const reload = el('button', { type: 'button', id: 'reload', onclick: async () => {
    try {
      const r = await api('/admin/config/reload', { method: 'POST' });
      for (let i = 0; i < 50; i++) { // the main loop reloads within milliseconds; wait up to 5 s for its outcome
        await new Promise((res) => setTimeout(res, 100));
        const c = await api('/admin/config');
        if (c.last_reload && c.last_reload.count > r.previous_count) {
          msg.textContent = c.last_reload.ok ? 'Reloaded.' : `Reload failed, the running config is kept: ${c.last_reload.error}`;
          return;
        }
      }
      msg.textContent = 'The reload did not report back within 5 s.';
    } catch (e) { msg.textContent = e.message; }
  } }, 'Reload the config file');
  const file = el('input', { type: 'file', id: 'config-file', accept: '.yaml,.yml,.json' });
  const check = el('button', { type: 'button', id: 'check', onclick: async () => {
    if (!file.files[0]) { msg.textContent = 'Choose a file first.'; return; }
    const r = await api('/admin/config/check', { method: 'POST', body: await file.files[0].text(), type: 'application/yaml' });
    msg.textContent = r.ok ? `OK: ${r.summary}` : `Invalid: ${r.error}`;
  } }, 'Check');
  root.append(el('div', { class: 'card' }, reload, ' ', el('label', {}, '--check-config of a file: ', file), check, msg),
    el('h2', {}, 'Running config (secrets masked)'), el('pre', { class: 'config' }, JSON.stringify(d.config, null, 2)));
};

// ---- shell ----
async function show() {
  for (const c of state.charts) c.destroy();
  state.charts = [];
  const page = $('page');
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  clear(page);
  delete document.body.dataset.shown; // set again once the page is complete (tests wait for it)
  const fn = pages[name];
  if (!fn) { page.append(el('p', { class: 'error' }, 'No such page.')); return; }
  try {
    await fn(page);
  } catch (e) {
    page.append(el('p', { class: 'error' }, e.status === 403 ? 'This page needs the admin key.' : e.message));
  }
  document.body.dataset.shown = location.hash || '#/overview';
}

async function signIn(token) {
  state.token = token;
  const who = await api('/admin/report/whoami');
  state.who = who;
  sessionStorage.setItem(TOKEN, token);
  $('signin').hidden = true;
  $('page').hidden = false;
  $('nav').hidden = false;
  $('signout').hidden = false;
  for (const a of document.querySelectorAll('#nav a[data-admin]')) a.hidden = who.role !== 'admin';
  $('who').textContent = who.role === 'admin' ? 'admin' : `key ${who.key.name || who.key.id}`;
  await show();
}

function signOut() {
  sessionStorage.removeItem(TOKEN);
  state.token = '';
  state.who = null;
  $('signin').hidden = false;
  $('page').hidden = true;
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
}

document.addEventListener('DOMContentLoaded', () => {
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('signin-error').textContent = '';
    try { await signIn($('token').value.trim()); } catch (e) { $('signin-error').textContent = e.message; signOut(); }
  });
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => { if (state.who) show(); });
  if (state.token) signIn(state.token).catch(() => signOut());
});
