// api.test.mjs — the web console's server side against the real binary: the
// static files at /ui (CSP and the other headers, ETag/304, gzip), the report
// endpoints (/admin/report/*: grouping, CSV with formula-safe cells, time
// series, a virtual key limited to its own rows), and the Config page's
// endpoints (masked config, --check-config of an upload, reload).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { startGateway, testStoreUrl } from '../compat/harness.mjs';
import { parseCsv } from './csv.mjs';

const ADMIN = 'adm-console-test-0001';
const STATIC = 'sk-console-static-0001';
let gw, keyA, keyB;

const cfg = (port, dir) => `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 2 }
log: { access_log: "off", level: info }
auth:
  admin_key: ${ADMIN}
  keys: [ { name: static, key: ${STATIC} } ]
console: { max_report_rows: 1000, explorer_tx_url: "https://explorer.example/tx/{tx}" }
providers:
  - { name: mock, kind: mock, api_key: "sk-upstream-secret-value-123456" }
  - { name: other, kind: openai, base_url: "http://user:pa55word@127.0.0.1:9/v1?key=leakme" }
models:
  - { name: mock-gpt, aliases: ["x-*", "=*"], provider: mock, model: mock-gpt-1, pricing: { input: 2.5, output: 10 }, capabilities: [chat, stream] }
  - { name: mock-mini, provider: mock, model: mock-mini-1, pricing: { input: 0.15, output: 0.6 }, capabilities: [chat, stream] }
  - { name: flaky, provider: other, model: flaky-1, fallbacks: [mock-mini], pricing: { input: 1, output: 1 } }
`;

const admin = (path, opts = {}) => fetch(`${gw.base}${path}`, { ...opts, headers: { authorization: `Bearer ${ADMIN}`, ...(opts.headers || {}) } });
const as = (key, path, opts = {}) => fetch(`${gw.base}${path}`, { ...opts, headers: { authorization: `Bearer ${key}`, ...(opts.headers || {}) } });
const chat = (key, model, content = 'hi') => as(key, '/v1/chat/completions', { method: 'POST',
  headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) });

async function waitRows(n) {
  for (let i = 0; i < 100; i++) {
    const j = await (await admin('/admin/report/rows?limit=1000')).json();
    if (j.data.length >= n) return j.data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('ledger rows did not appear');
}

before(async () => {
  gw = await startGateway({ config: cfg });
  const mk = async (body) => (await (await admin('/admin/keys', { method: 'POST', body: JSON.stringify(body) })).json()).key;
  keyA = await mk({ name: 'alpha', metadata: { team: '=HYPERLINK("http://evil")' } });
  keyB = await mk({ name: 'beta' });
  for (let i = 0; i < 3; i++) assert.equal((await chat(keyA, 'mock-gpt')).status, 200);
  assert.equal((await chat(keyA, '=1+2')).status, 200); // an alias pattern: the asked name is the client's
  for (let i = 0; i < 2; i++) assert.equal((await chat(keyB, 'mock-mini')).status, 200);
  await waitRows(6);
});
after(async () => { await gw?.stop(); });

test('/ui: the index page with a strict CSP, nosniff, no referrer, no framing, revalidation', async () => {
  const r = await fetch(`${gw.base}/ui`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const html = await r.text();
  assert.match(html, /<script src="\/ui\/app.js" defer><\/script>/);
  assert.doesNotMatch(html, /<script>[^<]/, 'no inline script');
  const etag = r.headers.get('etag');
  const again = await fetch(`${gw.base}/ui/`, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
});

test('/ui/*: the charting library gzipped when asked, plain otherwise; unknown files 404', async () => {
  const gz = await fetch(`${gw.base}/ui/uplot.js`, { headers: { 'accept-encoding': 'gzip' }, decompress: false });
  assert.equal(gz.status, 200);
  assert.match(gz.headers.get('content-type'), /^text\/javascript/);
  const plain = await new Promise((resolve, reject) => { // node's fetch always decompresses: check the raw bytes
    import('node:http').then(({ get }) => get(`${gw.base}/ui/uplot.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ enc: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
    }).on('error', reject));
  });
  assert.equal(plain.enc, 'gzip');
  const text = gunzipSync(plain.body).toString();
  assert.match(text, /uPlot/);
  const identity = await new Promise((resolve, reject) => {
    import('node:http').then(({ get }) => get(`${gw.base}/ui/uplot.js`, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ enc: res.headers['content-encoding'], body: Buffer.concat(chunks).toString() }));
    }).on('error', reject));
  });
  assert.equal(identity.enc, undefined);
  assert.equal(identity.body, text);
  assert.equal((await fetch(`${gw.base}/ui/nope.js`)).status, 404);
  assert.equal((await fetch(`${gw.base}/ui/app.js`, { method: 'POST' })).status, 405);
});

test('usage report: two dimensions, sums equal the raw rows, a filter narrows', async () => {
  const rows = (await (await admin('/admin/report/rows?limit=1000')).json()).data;
  const j = await (await admin('/admin/report/usage?by=key,model')).json();
  assert.deepEqual(j.group_by, ['key', 'model']);
  const want = new Map();
  for (const r of rows) {
    const k = `${r.key_id}|${r.model_served}`;
    want.set(k, (want.get(k) || 0) + r.cost_nusd);
  }
  assert.equal(j.data.length, want.size);
  for (const g of j.data) assert.equal(g.cost_nusd, want.get(`${g.key}|${g.model}`), JSON.stringify(g));
  assert.equal(j.total.requests, rows.length);
  const f = await (await admin('/admin/report/usage?by=provider,day&model=mock-mini-1')).json();
  assert.equal(f.total.requests, 2);
  assert.equal((await admin('/admin/report/usage?by=key,key')).status, 400);
  assert.equal((await admin('/admin/report/usage?by=color')).status, 400);
});

test('CSV export: the raw rows equal the JSON rows; formula-like cells are quoted and neutralised', async () => {
  const r = await admin('/admin/report/rows?format=csv');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/csv/);
  assert.match(r.headers.get('content-disposition'), /attachment/);
  const text = await r.text();
  assert.match(text, /,"'=1\+2",/, 'a formula-like asked model is quoted and prefixed with a quote');
  assert.doesNotMatch(text, /(^|,)=1\+2/m, 'never a bare formula cell');
  const csv = parseCsv(text);
  const head = csv[0];
  const json = (await (await admin('/admin/report/rows?limit=1000')).json()).data;
  assert.equal(csv.length - 1, json.length);
  const at = (name) => head.indexOf(name);
  for (let i = 0; i < json.length; i++) {
    assert.equal(csv[i + 1][at('request_id')], json[i].id);
    assert.equal(csv[i + 1][at('key_id')], json[i].key_id);
    assert.equal(Number(csv[i + 1][at('cost_nusd')]), json[i].cost_nusd);
    assert.equal(Number(csv[i + 1][at('tokens_prompt')]), json[i].tokens_prompt);
  }
  const asked = json.find((x) => x.model === '=1+2');
  assert.ok(asked, 'the aliased request is in the ledger');
});

test('timeseries: the last hour holds every request; percentiles present', async () => {
  const j = await (await admin('/admin/report/timeseries?range=hour')).json();
  assert.equal(j.t.length, 60);
  assert.equal(j.requests.reduce((a, b) => a + b, 0), 6);
  assert.ok(j.latency_p99_ms.some((v) => v !== null && v >= 0));
  assert.ok(j.by_model.some((s) => s.name === 'mock-gpt-1'));
  assert.equal((await admin('/admin/report/timeseries?range=year')).status, 400);
});

test('a virtual key reads its own rows only: another key is 403, its generations 404, admin reports 403', async () => {
  const idA = (await (await as(keyA, '/admin/report/whoami')).json()).key.id;
  const who = await (await as(keyB, '/admin/report/whoami')).json();
  assert.equal(who.role, 'key');
  const mine = await (await as(keyB, '/admin/report/rows')).json();
  assert.equal(mine.data.length, 2);
  assert.ok(mine.data.every((r) => r.key_id === who.key.id));
  assert.equal((await as(keyB, `/admin/report/rows?key_id=${idA}`)).status, 403);
  assert.equal((await as(keyB, `/admin/report/usage?key_id=${idA}`)).status, 403);
  const csv = await (await as(keyB, '/admin/report/rows?format=csv')).text();
  assert.ok(!csv.includes(idA));
  const ts = await (await as(keyB, '/admin/report/timeseries?range=hour')).json();
  assert.equal(ts.requests.reduce((a, b) => a + b, 0), 2);
  const rowA = (await (await as(keyA, '/admin/report/rows')).json()).data[0];
  assert.equal((await as(keyB, `/v1/generation?id=${rowA.id}`)).status, 404);
  assert.equal((await as(keyB, '/admin/report/routing')).status, 403);
  assert.equal((await as(keyB, '/admin/report/payments')).status, 403);
  assert.equal((await as(keyB, '/admin/config')).status, 401);
  assert.equal((await as(keyB, '/admin/keys')).status, 401);
  assert.equal((await as('gr-nope', '/admin/report/rows')).status, 401);
  assert.equal((await fetch(`${gw.base}/admin/report/rows`)).status, 401);
  // a static config key is not a virtual key: no report access
  assert.equal((await as(STATIC, '/admin/report/rows')).status, 401);
});

test('config view: secrets masked, URL passwords and credential query hidden', async () => {
  const r = await admin('/admin/config');
  assert.equal(r.status, 200);
  const text = await r.text();
  for (const secret of [ADMIN, STATIC, 'sk-upstream-secret-value-123456', 'pa55word', 'leakme'])
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  const j = JSON.parse(text);
  assert.equal(j.config.providers[0].api_key, '[redacted]');
  assert.equal(j.config.models[0].name, 'mock-gpt');
  assert.equal(j.last_reload, null);
});

test('--check-config of an upload: a good file passes, a bad one names the key; reload reports back', async () => {
  const good = await (await admin('/admin/config/check', { method: 'POST', body: cfg(1, '/tmp') })).json();
  assert.equal(good.ok, true, JSON.stringify(good));
  const bad = await (await admin('/admin/config/check', { method: 'POST', body: 'server: { workerz: 2 }' })).json();
  assert.equal(bad.ok, false);
  assert.match(bad.error, /server\.workerz/);
  const rl = await admin('/admin/config/reload', { method: 'POST' });
  assert.equal(rl.status, 202);
  let last = null;
  for (let i = 0; i < 50 && !last; i++) {
    await new Promise((res) => setTimeout(res, 50));
    last = (await (await admin('/admin/config')).json()).last_reload;
  }
  assert.equal(last?.ok, true, JSON.stringify(last));
  assert.equal((await fetch(`${gw.base}/admin/config/reload`, { method: 'POST' })).status, 401);
});

test('key rotation: a new secret, the old one valid for the grace period, then refused; same id, limits and spend', async () => {
  const made = await (await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'rot', rpm: 50 }) })).json();
  assert.equal((await chat(made.key, 'mock-gpt')).status, 200);
  const r = await admin(`/admin/keys/${made.id}/rotate`, { method: 'POST', body: JSON.stringify({ grace_seconds: 1 }) });
  assert.equal(r.status, 200);
  const rot = await r.json();
  assert.equal(rot.id, made.id);
  assert.match(rot.key, /^gr-[A-Za-z0-9]{32}$/);
  assert.notEqual(rot.key, made.key);
  assert.equal(rot.limits.rpm, 50);
  assert.ok(rot.previous_key_valid_until > Date.now());
  assert.equal((await chat(rot.key, 'mock-gpt')).status, 200, 'the new secret serves');
  assert.equal((await chat(made.key, 'mock-gpt')).status, 200, 'the old secret still serves within the grace');
  const me = await (await as(rot.key, '/v1/key')).json();
  assert.equal(me.data.id, made.id);
  await new Promise((res) => setTimeout(res, 1200));
  const late = await chat(made.key, 'mock-gpt');
  assert.equal(late.status, 401, 'the old secret is refused after the grace');
  assert.match((await late.json()).error.message, /rotated/);
  assert.equal((await chat(rot.key, 'mock-gpt')).status, 200);
  // no grace: the old secret stops at once
  const again = await (await admin(`/admin/keys/${made.id}/rotate`, { method: 'POST', body: JSON.stringify({ grace_seconds: 0 }) })).json();
  assert.equal((await chat(rot.key, 'mock-gpt')).status, 401);
  assert.equal((await chat(again.key, 'mock-gpt')).status, 200);
  // refused: bad grace, a virtual key, a revoked key, an unknown key
  assert.equal((await admin(`/admin/keys/${made.id}/rotate`, { method: 'POST', body: '{"grace_seconds":-1}' })).status, 400);
  assert.equal((await admin(`/admin/keys/${made.id}/rotate`, { method: 'POST', body: '{"grace_seconds":99999999}' })).status, 400);
  assert.equal((await as(again.key, `/admin/keys/${made.id}/rotate`, { method: 'POST' })).status, 401);
  assert.equal((await admin(`/admin/keys/${made.id}/rotate`)).status, 405);
  assert.equal((await admin('/admin/keys/key_nope/rotate', { method: 'POST' })).status, 404);
  assert.equal((await admin(`/admin/keys/${made.id}`, { method: 'DELETE' })).status, 200);
  assert.equal((await admin(`/admin/keys/${made.id}/rotate`, { method: 'POST' })).status, 409);
  assert.equal((await chat(again.key, 'mock-gpt')).status, 401);
});

test('the ledger counts upstream attempts as the response header does: retries and the fallback', async () => {
  const r = await chat(keyB, 'flaky');
  assert.equal(r.status, 200);
  const id = r.headers.get('x-gaterouter-request-id');
  const attempts = Number(r.headers.get('x-gaterouter-attempts'));
  assert.ok(attempts >= 2, `attempts ${attempts}`);
  let row;
  for (let i = 0; i < 100 && !row; i++) {
    row = (await (await admin('/admin/report/rows?limit=1000')).json()).data.find((x) => x.id === id);
    if (!row) await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(row.attempts, attempts, JSON.stringify(row));
  assert.equal(row.model_served, 'mock-mini-1');
  const csv = parseCsv(await (await admin('/admin/report/rows?format=csv')).text());
  const line = csv.find((c) => c[0] === id);
  assert.equal(line[csv[0].indexOf('attempts')], String(attempts));
});

test('routing report: feedback received per model, from the ratings of auto decisions', async () => {
  const r = await chat(keyA, 'auto', 'What is 2 + 2? Answer with a number.');
  assert.equal(r.status, 200);
  const id = r.headers.get('x-gaterouter-request-id');
  const served = r.headers.get('x-gaterouter-model');
  assert.ok(id && served);
  let fb;
  for (let i = 0; i < 100; i++) { // the ledger row appears within ~50 ms
    fb = await as(keyA, '/v1/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, score: 0 }) });
    if (fb.status !== 404) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const fj = await fb.json();
  assert.equal(fb.status, 200, JSON.stringify(fj));
  assert.equal(fj.learned, true, JSON.stringify(fj));
  const rep = await (await admin('/admin/report/routing')).json();
  const row = rep.feedback.find((f) => f.model === fj.model);
  assert.ok(row, JSON.stringify(rep.feedback));
  assert.equal(row.ratings, 1);
  assert.equal(row.rated_good, 0);
  assert.ok(row.predicted_good > 0 && row.predicted_good < 1, JSON.stringify(row));
  assert.equal((await as(keyB, '/admin/report/routing')).status, 403, 'admin only, as the rest of the report');
});
