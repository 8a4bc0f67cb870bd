// access.test.mjs — what a request may spend, see and reach (issue #16 items
// 1, 2, 4, 5, 9; #19 item 5), driven against the real binary in front of a
// recording upstream (recording_upstream.mjs):
//   allow-lists apply to every candidate (models[], auto, config fallbacks,
//   embeddings models[]), budgets reserve the true worst case (n, best_of,
//   prompt lists) and never meet an unpriced model, gateway-only fields never
//   reach the upstream, auth fails closed (auth.mode), and errors the request
//   caused never open the breaker everyone shares.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, repoRoot } from '../compat/harness.mjs';
import { startRecording } from './recording_upstream.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const UPSTREAM_KEY = 'sk-upstream-access-0123456789';
const ADMIN = 'adm-access-test-0123456789';
const OPEN_KEY = 'sk-static-access-test-0001'; // auth.keys: no list, no budget
const K = { // keys: entries (virtual keys), plaintext >= 16 characters
  cheap: 'gr-access-cheap-only-000001',
  alias: 'gr-access-alias-entry-00001',
  embed: 'gr-access-embed-cheap-00001',
  auto: 'gr-access-auto-plain-000001',
  autoAll: 'gr-access-auto-star-0000001',
  budget: 'gr-access-budget-5-cents-01',
  budgetFree: 'gr-access-budget-and-free01',
};

let up;
let gw;

// The main gateway never opens a breaker (tests make deployments fail on
// purpose); the breaker tests run their own gateway with a low threshold.
const CALM = '{ consecutive_failures: 1000, min_samples: 64, window: 64 }';
const TOUCHY = '{ consecutive_failures: 3, window: 20, min_samples: 4, error_rate: 0.5, cooldown_ms: 60000 }';

function accessConfig(port, dir, health = CALM, server = '') {
  const rec = `base_url: "http://127.0.0.1:${up.port}/v1", api_key: "${UPSTREAM_KEY}"`;
  return `
store: "sqlite://${dir}/gaterouter.db"
server: { listen: 127.0.0.1:${port}, workers: 2${server} }
log: { access_log: "off", level: info }
auth:
  admin_key: ${ADMIN}
  keys: [ { name: static, key: ${OPEN_KEY} } ]
routing:
  auto: { models: [cheap, pricey] }
  health: ${health}
providers:
  - { name: rec, kind: openai, ${rec} }
  - { name: recaz, kind: azure, base_url: "http://127.0.0.1:${up.port}", api_key: "${UPSTREAM_KEY}", api_version: "2024-10-21" }
  - { name: recant, kind: anthropic, ${rec} }
models:
  - { name: cheap, aliases: [cheap-alias], provider: rec, model: cheap, pricing: { input: 1, output: 2 }, quality: 40,
      capabilities: [chat, stream, completions], fallbacks: [pricey] }
  - { name: pricey, provider: rec, model: pricey, pricing: { input: 10, output: 10 }, quality: 90, capabilities: [chat, stream, completions] }
  - { name: unpriced, provider: rec, model: unpriced-x1, capabilities: [chat] }
  - { name: embed-cheap, provider: rec, model: embed-cheap, pricing: { input: 0.02 }, capabilities: [embeddings] }
  - { name: embed-pricey, provider: rec, model: embed-pricey, pricing: { input: 5 }, capabilities: [embeddings] }
  - { name: az, provider: recaz, model: az-deploy, pricing: { input: 1, output: 1 }, capabilities: [chat] }
  - { name: ant, provider: recant, model: claude-rec, pricing: { input: 1, output: 1 }, capabilities: [chat] }
  - { name: shared, provider: rec, model: shared, pricing: { input: 1, output: 1 }, capabilities: [chat, stream] }
  - { name: shared-stream, provider: rec, model: shared-stream, pricing: { input: 1, output: 1 }, capabilities: [chat, stream] }
  - { name: broken, provider: rec, model: fail500, pricing: { input: 1, output: 1 }, capabilities: [chat] }
keys:
  - { name: cheap-only, key: ${K.cheap}, models: [cheap] }
  - { name: alias-entry, key: ${K.alias}, models: [cheap-alias] }
  - { name: embed-only, key: ${K.embed}, models: [embed-cheap] }
  - { name: auto-plain, key: ${K.auto}, models: [auto] }
  - { name: auto-star, key: ${K.autoAll}, models: ["auto:*"] }
  - { name: budget, key: ${K.budget}, budget_usd: "0.05" }
  - { name: budget-free, key: ${K.budgetFree}, budget_usd: "100", models: [unpriced] }
`;
}

async function call(path, body, { key = OPEN_KEY, headers = {}, base = gw.base } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  const r = await fetch(base + path, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* SSE or not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}
const chat = (body, opts) => call('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], ...body }, opts);

function assertRefused(r, status, code, names) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json?.error, `OpenAI error shape: ${r.text}`);
  for (const f of ['message', 'type', 'param', 'code']) assert.ok(f in r.json.error, `error.${f}`);
  assert.equal(r.json.error.code, code, r.text);
  for (const n of names) assert.match(r.json.error.message, new RegExp(`'${n}'`), r.text);
}

before(async () => {
  up = await startRecording();
  gw = await startGateway({ config: accessConfig });
});
after(async () => {
  await gw?.stop();
  await up?.stop();
});

// ---- 1. allow-lists apply to every candidate ----

test('allow-list: a models[] fallback outside the list is refused up front (403 naming it), nothing sent', async () => {
  up.clear();
  const r = await chat({ model: 'cheap', models: ['pricey'] }, { key: K.cheap });
  assertRefused(r, 403, 'model_not_allowed', ['pricey']);
  assert.equal(r.json.error.type, 'permission_error');
  assert.equal(up.requests.length, 0, 'no upstream call for a refused request');
});

test('allow-list: a config fallback outside the list is skipped, never served', async () => {
  up.clear();
  const r = await chat({ model: 'cheap', messages: [{ role: 'user', content: 'hi [[fail500@cheap]]' }] }, { key: K.cheap });
  assert.notEqual(r.status, 200, r.text);
  assert.equal(up.to('pricey').length, 0, 'the pricier fallback was never called');
  assert.ok(up.to('cheap').length >= 1);
  // an unrestricted key still falls back (the fallback itself works)
  up.clear();
  const ok = await chat({ model: 'cheap', messages: [{ role: 'user', content: 'hi [[fail500@cheap]]' }] });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.headers.get('x-gaterouter-model'), 'pricey');
});

test('allow-list: auto with a restricted key chooses only among its models', async () => {
  up.clear();
  const best = await chat({ model: 'auto:best', messages: [{ role: 'user', content: 'Prove rigorously that there are infinitely many primes, step by step.' }] },
    { key: K.cheap });
  assert.equal(best.status, 200, best.text);
  assert.equal(best.headers.get('x-gaterouter-model'), 'cheap');
  assert.equal(up.to('pricey').length, 0);
  // and its alternatives too: cheap failing never falls over to pricey
  up.clear();
  const alt = await chat({ model: 'auto', messages: [{ role: 'user', content: 'hi [[fail500@cheap]]' }] }, { key: K.cheap });
  assert.notEqual(alt.status, 200, alt.text);
  assert.equal(up.to('pricey').length, 0, 'auto alternative outside the list was never called');
});

test('allow-list: /v1/embeddings models[] is checked too', async () => {
  up.clear();
  const r = await call('/v1/embeddings', { model: 'embed-cheap', models: ['embed-pricey'], input: 'x' }, { key: K.embed });
  assertRefused(r, 403, 'model_not_allowed', ['embed-pricey']);
  assert.equal(up.requests.length, 0);
  const ok = await call('/v1/embeddings', { model: 'embed-cheap', input: 'x' }, { key: K.embed });
  assert.equal(ok.status, 200, ok.text);
});

test('allow-list: an entry matches an alias or its canonical name', async () => {
  const byName = await chat({ model: 'cheap' }, { key: K.alias }); // list names the alias
  assert.equal(byName.status, 200, byName.text);
  const byAlias = await chat({ model: 'cheap-alias' }, { key: K.cheap }); // list names the canonical name
  assert.equal(byAlias.status, 200, byAlias.text);
  assertRefused(await chat({ model: 'pricey' }, { key: K.alias }), 403, 'model_not_allowed', ['pricey']);
});

test('allow-list: "auto" and "auto:*" are permissions', async () => {
  const plain = await chat({ model: 'auto' }, { key: K.auto });
  assert.equal(plain.status, 200, plain.text);
  // "auto" grants plain auto only; other policies and named models stay refused
  assertRefused(await chat({ model: 'auto:best' }, { key: K.auto }), 403, 'model_not_allowed', ['auto:best']);
  assertRefused(await chat({ model: 'pricey' }, { key: K.auto }), 403, 'model_not_allowed', ['pricey']);
  const star = await chat({ model: 'auto:best', messages: [{ role: 'user', content: 'Prove rigorously that there are infinitely many primes, step by step.' }] },
    { key: K.autoAll });
  assert.equal(star.status, 200, star.text);
  assert.equal(star.headers.get('x-gaterouter-model'), 'pricey');
});

test('allow-list: /v1/models lists only what the key may call; another model is 404 to it', async () => {
  const list = async (key, headers = {}) => {
    const r = await fetch(gw.base + '/v1/models', { headers: { authorization: `Bearer ${key}`, ...headers } });
    assert.equal(r.status, 200);
    return (await r.json()).data.map((m) => m.id).sort();
  };
  assert.deepEqual(await list(K.cheap), ['cheap', 'cheap-alias']);
  assert.deepEqual(await list(K.alias), ['cheap', 'cheap-alias'], 'an alias entry shows the model under all its names');
  assert.deepEqual(await list(K.cheap, { 'anthropic-version': '2023-06-01' }), ['cheap', 'cheap-alias']);
  const all = await list(OPEN_KEY); // a key without a list sees every model
  for (const m of ['cheap', 'pricey', 'embed-pricey', 'ant']) assert.ok(all.includes(m), m);
  const one = await fetch(gw.base + '/v1/models/pricey', { headers: { authorization: `Bearer ${K.cheap}` } });
  assert.equal(one.status, 404);
  assert.equal((await one.json()).error.code, 'model_not_found');
  const own = await fetch(gw.base + '/v1/models/cheap-alias', { headers: { authorization: `Bearer ${K.cheap}` } });
  assert.equal(own.status, 200);
});

// ---- 2. budgets reserve the true worst case ----

test('budget: n multiplies the reservation — n:128 on a $0.05 budget is refused before any upstream call', async () => {
  up.clear();
  const one = await chat({ model: 'pricey', max_tokens: 1000 }, { key: K.budget }); // worst case ~$0.01
  assert.equal(one.status, 200, one.text);
  up.clear();
  const r = await chat({ model: 'pricey', max_tokens: 1000, n: 128 }, { key: K.budget }); // worst case $1.28
  assertRefused(r, 402, 'budget_exceeded', []);
  assert.equal(up.requests.length, 0, 'refused before any upstream call');
});

test('budget: best_of and prompt lists on /v1/completions count as outputs', async () => {
  up.clear();
  const bo = await call('/v1/completions', { model: 'pricey', prompt: 'x', max_tokens: 1000, best_of: 64 }, { key: K.budget });
  assertRefused(bo, 402, 'budget_exceeded', []);
  const many = await call('/v1/completions', { model: 'pricey', prompt: Array(64).fill('x'), max_tokens: 1000 }, { key: K.budget });
  assertRefused(many, 402, 'budget_exceeded', []);
  assert.equal(up.requests.length, 0);
});

test('budget: n and best_of must be integers >= 1', async () => {
  for (const [field, v] of [['n', 0], ['n', -3], ['n', 1.5], ['n', '2'], ['best_of', 0]]) {
    const path = field === 'best_of' ? '/v1/completions' : '/v1/chat/completions';
    const body = field === 'best_of' ? { model: 'cheap', prompt: 'x', [field]: v } : { model: 'cheap', messages: [{ role: 'user', content: 'hi' }], [field]: v };
    const r = await call(path, body);
    assert.equal(r.status, 400, `${field}=${JSON.stringify(v)}: ${r.text}`);
    assert.equal(r.json.error.param, field);
  }
});

test('budget: a key with a budget is never served by an unpriced model', async () => {
  up.clear();
  const r = await chat({ model: 'unpriced' }, { key: K.budgetFree });
  assertRefused(r, 403, 'model_not_priced', ['unpriced']);
  assert.equal(up.requests.length, 0);
  const free = await chat({ model: 'unpriced' }); // no budget: served (and metered at $0)
  assert.equal(free.status, 200, free.text);
});

// ---- 4. gateway-only fields never reach the upstream ----

const GATEWAY_FIELDS = ['models', 'provider', 'route', 'transforms'];
const routed = { models: ['cheap'], provider: { order: ['rec'], allow_fallbacks: true }, route: 'fallback', transforms: [] };

function assertClean(rec, what) {
  assert.ok(rec, `${what}: the upstream got the request`);
  assert.ok(rec.json, `${what}: valid JSON upstream: ${rec.body}`);
  for (const f of GATEWAY_FIELDS) assert.ok(!(f in rec.json), `${what}: '${f}' reached the upstream: ${rec.body}`);
}

test('gateway-only fields: stripped on the fast path, streamed or not, and on embeddings', async () => {
  up.clear();
  assert.equal((await chat({ model: 'cheap', ...routed, temperature: 0.5 })).status, 200);
  assertClean(up.requests.at(-1), 'fast path');
  assert.equal(up.requests.at(-1).json.temperature, 0.5);
  assert.equal(up.requests.at(-1).json.model, 'cheap');
  const s = await chat({ model: 'cheap', ...routed, stream: true });
  assert.equal(s.status, 200);
  assert.match(s.text, /\[DONE\]/);
  assertClean(up.requests.at(-1), 'stream');
  assert.equal((await call('/v1/embeddings', { model: 'embed-cheap', input: 'x', models: ['embed-cheap'], provider: {} })).status, 200);
  assertClean(up.requests.at(-1), 'embeddings');
  assert.equal((await call('/v1/completions', { model: 'cheap', prompt: 'x', ...routed })).status, 200);
  assertClean(up.requests.at(-1), 'completions');
});

test('gateway-only fields: stripped on the tree path (duplicate keys), Azure and the Anthropic adapter', async () => {
  up.clear();
  const dup = '{"model":"cheap","temperature":0.2,"temperature":0.9,"models":["cheap"],"provider":{"sort":"price"},'
    + '"route":"fallback","messages":[{"role":"user","content":"hi"}]}';
  assert.equal((await call('/v1/chat/completions', dup)).status, 200);
  assertClean(up.requests.at(-1), 'tree path');
  assert.equal(up.requests.at(-1).json.temperature, 0.2, 'the first duplicate (the one validated) is kept');
  assert.equal((await chat({ model: 'az', ...routed, models: ['az'] })).status, 200);
  assert.match(up.requests.at(-1).path, /\/openai\/deployments\/az-deploy\/chat\/completions/);
  assertClean(up.requests.at(-1), 'azure');
  await chat({ model: 'ant', ...routed, models: ['ant'] }); // the fake speaks OpenAI: only the request matters here
  assert.match(up.requests.at(-1).path, /\/v1\/messages$/);
  assertClean(up.requests.at(-1), 'anthropic adapter');
});

// ---- 9. one tenant cannot open the breaker for all ----

async function withGateway(config, fn) {
  const g = await startGateway({ config });
  try {
    return await fn(g);
  } finally {
    await g.stop();
  }
}

test('breaker: errors the request caused (4xx, context length or content filter even as 5xx) never open it', async () => {
  await withGateway((p, d) => accessConfig(p, d, TOUCHY), async (g) => {
    for (const scenario of ['ctx400', 'filter400', 'bad422', 'ctx500', 'filter500']) {
      for (let i = 0; i < 6; i++) {
        const r = await chat({ model: 'shared', messages: [{ role: 'user', content: `tenant A [[${scenario}]]` }] }, { base: g.base });
        assert.notEqual(r.status, 200, `${scenario}: ${r.text}`);
        assert.notEqual(r.status, 503, `${scenario} #${i}: the breaker opened: ${r.text}`);
      }
      const b = await chat({ model: 'shared', messages: [{ role: 'user', content: 'tenant B' }] }, { base: g.base });
      assert.equal(b.status, 200, `after tenant A's ${scenario} errors, tenant B: ${b.text}`);
    }
    // control: real upstream failures still open it
    let last;
    for (let i = 0; i < 6; i++) last = await chat({ model: 'broken' }, { base: g.base });
    assert.equal(last.status, 503, last.text);
    assert.equal(last.json.error.code, 'no_healthy_deployment');
  });
});

test("breaker: a response cut at the gateway's cap (max_upstream_response_bytes) is the request's doing", async () => {
  // n:4000 makes the fake answer ~400 KB, over this gateway's 64 KiB cap
  await withGateway((p, d) => accessConfig(p, d, TOUCHY, ', max_upstream_response_bytes: 64KiB'), async (g) => {
    for (let i = 0; i < 6; i++) {
      const r = await call('/v1/chat/completions', { model: 'shared', n: 4000, messages: [{ role: 'user', content: 'big' }] }, { base: g.base });
      assert.equal(r.status, 502, r.text);
      assert.equal(r.json.error.code, 'upstream_response_too_large');
    }
    const ok = await chat({ model: 'shared' }, { base: g.base });
    assert.equal(ok.status, 200, ok.text);
  });
});

// ---- 5. fail closed ----

function miniConfig(port, dir, auth, extra = '') {
  return `
store: "sqlite://${dir}/gaterouter.db"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "off", level: info }
${auth}
providers: [ { name: mock, kind: mock } ]
models: [ { name: m, provider: mock, model: mock-gpt-1, pricing: { input: 1, output: 1 } } ]
${extra}`;
}
const X402 = `x402:
  settle: none
  networks:
    - { network: base-sepolia, asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", name: USDC, version: "2", pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" }`;

test('fail closed: admin_key set and no client key yet — unauthenticated chat is 401', async () => {
  await withGateway((p, d) => miniConfig(p, d, `auth: { admin_key: ${ADMIN} }`), async (g) => {
    const anon = await chat({ model: 'm' }, { key: null, base: g.base });
    assertRefused(anon, 401, 'missing_api_key', []);
    assert.match(g.logs(), /no API key exists yet/);
    assertRefused(await chat({ model: 'm' }, { key: 'sk-made-up-0000000001', base: g.base }), 401, 'invalid_api_key', []);
    // the admin creates the first key; it works at once
    const created = await fetch(`${g.base}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: '{"name":"first"}' });
    assert.equal(created.status, 201);
    const { key } = await created.json();
    assert.equal((await chat({ model: 'm' }, { key, base: g.base })).status, 200);
  });
});

test('fail closed: auth.mode open is explicit and warned about', async () => {
  await withGateway((p, d) => miniConfig(p, d, 'auth: { mode: open }'), async (g) => {
    assert.match(g.logs(), /auth\.mode is open: the gateway is OPEN/);
    assert.equal((await chat({ model: 'm' }, { key: null, base: g.base })).status, 200);
    assert.equal((await chat({ model: 'm' }, { key: 'sk-whatever-an-sdk-sends', base: g.base })).status, 200);
  });
});

test('fail closed: with x402 on, a made-up bearer or x-api-key never skips payment (#19 item 5)', async () => {
  await withGateway((p, d) => miniConfig(p, d, 'auth: { keys: [] }', X402), async (g) => {
    assert.equal((await chat({ model: 'm' }, { key: null, base: g.base })).status, 402, 'no key: pay');
    const bearer = await chat({ model: 'm' }, { key: 'sk-made-up-0000000002', base: g.base });
    assertRefused(bearer, 401, 'invalid_api_key', []);
    const xkey = await chat({ model: 'm' }, { key: null, headers: { 'x-api-key': 'made-up-anthropic-key' }, base: g.base });
    assertRefused(xkey, 401, 'invalid_api_key', []);
    const msg = await call('/v1/messages', { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { key: null, headers: { 'x-api-key': 'made-up-anthropic-key' }, base: g.base });
    assert.equal(msg.status, 401, msg.text);
  });
});

test('budget: an x402 quote counts every output too (n)', async () => {
  await withGateway((p, d) => miniConfig(p, d, 'auth: { keys: [] }', X402), async (g) => {
    const quote = async (n) => {
      const r = await chat({ model: 'm', max_tokens: 1000, n }, { key: null, base: g.base });
      assert.equal(r.status, 402, r.text);
      return Number(r.json.accepts[0].maxAmountRequired);
    };
    const one = await quote(1), four = await quote(4);
    assert.ok(one > 0);
    assert.ok(four > 3.9 * one, `n:4 quoted ${four}, n:1 quoted ${one}`);
  });
});

test('fail closed: auth.mode open with x402 and unknown modes are refused by --check-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-access-'));
  for (const [auth, extra, want] of [['auth: { mode: open }', X402, /auth\.mode: open cannot be combined with x402/],
    ['auth: { mode: opne }', '', /auth\.mode: unknown value .opne. \(did you mean open\? expected one of: keys, open\)/]]) {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, miniConfig(1, dir, auth, extra));
    const r = spawnSync(BIN, ['--check-config', f], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, `${auth} accepted`);
    assert.match(r.stdout + r.stderr, want);
  }
});

test('the shipped configs pass --check-config, and the default one serves a newcomer without a key', async () => {
  const files = ['config/gaterouter.yaml', ...readdirSync(join(repoRoot, 'config/examples')).filter((f) => f.endsWith('.yaml')).map((f) => `config/examples/${f}`)];
  const env = { ...process.env };
  for (const v of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'DEEPSEEK_API_KEY', 'GROQ_API_KEY', 'GR_ADMIN_KEY']) env[v] = 'x';
  for (const f of files) {
    const out = execFileSync(BIN, ['--check-config', join(repoRoot, f)], { env, encoding: 'utf8' });
    assert.match(out, /OK/, f);
  }
  const text = readFileSync(join(repoRoot, 'config/gaterouter.yaml'), 'utf8');
  assert.match(text, /^\s*mode: open/m, 'the default config says it is open');
  await withGateway((p, d) => `${text.replace('${GR_LISTEN:-127.0.0.1:8080}', `127.0.0.1:${p}`)}\nstore: "sqlite://${d}/g.db"\n`, async (g) => {
    const r = await chat({ model: 'gpt-4o-mini' }, { key: null, base: g.base });
    assert.equal(r.status, 200, r.text);
  });
});
