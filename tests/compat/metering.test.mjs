// metering.test.mjs — cost, virtual keys with budgets and RPM, admin API and
// the ledger, through the official `openai` SDK against a running gateway.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, defaultConfig, TEST_KEY } from './harness.mjs';

const ADMIN = 'admin-secret-key-123';
const BUDGET_KEY = 'gr-budgetkeybudgetkeybudgetkey0001';
const RPM_KEY = 'gr-rpmkeyrpmkeyrpmkeyrpmkeyrpm0001';
let gw;
before(async () => {
  gw = await startGateway({
    config: (port, dir) => defaultConfig(port, `
keys:
  - { name: tiny-budget, key: ${BUDGET_KEY}, budget_usd: 0.0001 }
  - { name: tight-rpm, key: ${RPM_KEY}, rpm: 3 }
`, dir).replace('auth:\n', `auth:\n  admin_key: ${ADMIN}\n`),
  });
});
after(async () => { await gw.stop(); });

const client = (key) => new OpenAI({ baseURL: gw.baseURL, apiKey: key, maxRetries: 0 });
const ask = (c, content = 'hello', extra = {}) =>
  c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra });

test('usage.cost and x-gaterouter-cost match the configured prices', async () => {
  const { data, response } = await ask(client(TEST_KEY)).withResponse();
  const u = data.usage;
  // gpt-4o-mini here: 0.15 / 0.60 USD per 1M tokens
  const expected = (u.prompt_tokens * 0.15 + u.completion_tokens * 0.60) / 1e6;
  assert.ok(Math.abs(u.cost - expected) < 1e-9, `cost ${u.cost} vs ${expected}`);
  assert.ok(Math.abs(Number(response.headers.get('x-gaterouter-cost')) - expected) < 1e-9);
});

test('streamed usage chunk carries the cost', async () => {
  const s = await ask(client(TEST_KEY), 'hi', { stream: true, stream_options: { include_usage: true } });
  let usage;
  for await (const c of s) if (c.usage) usage = c.usage;
  assert.ok(usage && usage.cost > 0, JSON.stringify(usage));
});

test('a budget stops the key with a typed 402 error, never overspends', async () => {
  const c = client(BUDGET_KEY);
  let ok = 0, err;
  for (let i = 0; i < 50 && !err; i++) {
    try { await ask(c, '[[mock:tokens=20]]', { max_tokens: 20 }); ok++; } catch (e) { err = e; }
  }
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 402);
  assert.equal(err.code, 'budget_exceeded');
  assert.ok(ok >= 1 && ok < 50);
  const me = await (await fetch(`${gw.baseURL}/key`, { headers: { authorization: `Bearer ${BUDGET_KEY}` } })).json();
  const spent = JSON.stringify(me);
  assert.match(spent, /spent|spend/);
});

test('RPM limit gives RateLimitError with retry-after', async () => {
  const c = client(RPM_KEY);
  for (let i = 0; i < 3; i++) await ask(c);
  await assert.rejects(ask(c).withResponse(), (e) => e instanceof OpenAI.RateLimitError && Number(e.headers.get('retry-after')) > 0);
});

test('admin API creates a key shown once; the key works; usage is queryable', async () => {
  const h = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
  const denied = await fetch(`${gw.base}/admin/keys`, { headers: { authorization: 'Bearer nope-nope-nope' } });
  assert.equal(denied.status, 401);
  const r = await fetch(`${gw.base}/admin/keys`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'agent-1', budget_usd: 1, rpm: 60 }) });
  assert.equal(r.status, 201, await r.clone().text());
  const created = await r.json();
  const key = created.key ?? created.data?.key;
  assert.match(key, /^gr-/);
  const { data } = await ask(client(key)).withResponse();
  assert.ok(data.usage.cost > 0);
  const list = await (await fetch(`${gw.base}/admin/keys`, { headers: h })).json();
  assert.ok(JSON.stringify(list).includes('agent-1'));
  assert.ok(!JSON.stringify(list).includes(key), 'plaintext key is never listed');
  // The ledger is written asynchronously: poll the usage summary.
  let rows = '';
  for (let i = 0; i < 50; i++) {
    rows = await (await fetch(`${gw.base}/admin/usage?group_by=model`, { headers: h })).text();
    if (rows.includes('mock-gpt-1')) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.match(rows, /"group":"mock-gpt-1","requests":[1-9]/);
});
