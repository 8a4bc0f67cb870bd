// redis.test.mjs — two GateRouter instances sharing limits through a real
// Redis (loopback, throwaway): RPM and budgets hold across instances, and a
// Redis outage follows the documented policy (budgets fail closed, no hang),
// then recovers by itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import OpenAI from 'openai';
import { startGateway, freePort, TEST_KEY } from '../compat/harness.mjs';

const RPM_KEY = 'gr-sharedrpmkeysharedrpmkey000001';
const BUDGET_KEY = 'gr-sharedbudgetkeysharedbudget0001';
const SCRIPT_KEY = 'gr-sharedscriptkeysharedscript0001';
let redisPort, redis, gws = [];

async function startRedis() {
  const proc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      await new Promise((resolve, reject) => {
        const s = require_net().connect(redisPort, '127.0.0.1', () => { s.end(); resolve(); });
        s.on('error', reject);
      });
      return proc;
    } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  throw new Error('redis-server did not start');
}
let netmod;
const require_net = () => netmod;

const config = (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 2 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "off", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
redis: { url: "redis://127.0.0.1:${redisPort}/0", timeout_ms: 200, reconnect_ms: 100 }
routing: { health: { rate_limit_cooldown_ms: 0, consecutive_failures: 1000 } }
keys:
  - { name: shared-rpm, key: ${RPM_KEY}, rpm: 10 }
  - { name: shared-budget, key: ${BUDGET_KEY}, budget_usd: 0.001 }
  - { name: shared-script, key: ${SCRIPT_KEY}, budget_usd: 100, rpm: 100000 }
providers: [ { name: mock, kind: mock } ]
models:
  - { name: m, provider: mock, model: m-1, pricing: { input: 1, output: 10 } }
  - { name: cached, provider: mock, model: cached-1, pricing: { input: 1, output: 10 }, cache_ttl_s: 60 }
`;

before(async () => {
  netmod = await import('node:net');
  redisPort = await freePort();
  redis = await startRedis();
  gws = [await startGateway({ config }), await startGateway({ config })];
});
after(async () => {
  for (const g of gws) await g.stop();
  redis?.kill('SIGKILL');
});

const client = (i, key) => new OpenAI({ baseURL: gws[i].baseURL, apiKey: key, maxRetries: 0 });
const call = (i, key, extra = {}) => client(i, key).chat.completions
  .create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20, ...extra })
  .then((r) => ({ status: 200, cost: r.usage.cost }), (e) => ({ status: e.status, code: e.code, headers: e.headers }));

test('RPM is enforced across both instances: exactly 10 of 30 concurrent requests pass', async () => {
  const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i % 2, RPM_KEY)));
  const ok = results.filter((r) => r.status === 200).length;
  const limited = results.filter((r) => r.status === 429);
  // A minute boundary inside the burst could legitimately open a new window.
  assert.ok(ok === 10 || ok === 20, `admitted ${ok}`);
  assert.equal(ok + limited.length, 30);
  assert.ok(limited.every((r) => Number(r.headers.get('retry-after')) >= 1));
});

test('a budget is never overspent across instances under 200 concurrent requests', async () => {
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(i % 2, BUDGET_KEY)));
  const ok = results.filter((r) => r.status === 200);
  const spent = ok.reduce((s, r) => s + r.cost, 0);
  assert.ok(ok.length >= 1, 'some requests fit the budget');
  assert.ok(results.some((r) => r.status === 402), 'the budget stops the key');
  assert.ok(spent <= 0.001 + 1e-12, `spent ${spent} > budget`);
});

test('response cache: an identical request is answered from Redis by either instance, at zero cost', async () => {
  const body = (content, extra = {}) => JSON.stringify({ model: 'cached', messages: [{ role: 'user', content }], ...extra });
  const post = (i, b, headers = {}) => fetch(`${gws[i].baseURL}/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}`, ...headers }, body: b });
  const unique = `cache me ${Date.now()}`;
  const first = await post(0, body(unique));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-gaterouter-cache'), 'miss');
  const a = await first.json();
  assert.ok(a.usage.cost > 0);
  let second;
  for (let i = 0; i < 20; i++) { // the fill is asynchronous
    second = await post(1, body(unique));
    if (second.headers.get('x-gaterouter-cache') === 'hit') break;
    await second.text();
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(second.headers.get('x-gaterouter-cache'), 'hit', 'served from the cache by the other instance');
  const b = await second.json();
  assert.equal(b.choices[0].message.content, a.choices[0].message.content);
  assert.equal(b.usage.cost, 0);
  // a different body, an opt-out, a stream and a tool offer are not served from the cache
  assert.equal((await post(1, body(unique + '!'))).headers.get('x-gaterouter-cache'), 'miss');
  assert.equal((await post(1, body(unique), { 'x-gaterouter-cache': 'off' })).headers.get('x-gaterouter-cache'), null);
  assert.equal((await post(1, body(unique, { stream: true }))).headers.get('x-gaterouter-cache'), null);
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
  assert.equal((await post(1, body(unique, { tools }))).headers.get('x-gaterouter-cache'), null);
});

const redisCli = (...args) => execFileSync('redis-cli', ['-p', String(redisPort), ...args], { encoding: 'utf8' });
const calls = (cmd) => Number((redisCli('INFO', 'commandstats').match(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`)) || [])[1] || 0);

test('scripts go by digest (EVALSHA); after SCRIPT FLUSH a call falls back to EVAL and nothing fails', async () => {
  redisCli('CONFIG', 'RESETSTAT');
  for (let i = 0; i < 6; i++) assert.equal((await call(i % 2, SCRIPT_KEY)).status, 200);
  assert.ok(calls('evalsha') >= 6, `admissions by digest: evalsha ${calls('evalsha')}`);
  assert.equal(calls('eval'), 0, 'no script body sent once loaded');
  redisCli('SCRIPT', 'FLUSH');
  redisCli('CONFIG', 'RESETSTAT');
  const after = await Promise.all(Array.from({ length: 24 }, (_, i) => call(i % 2, SCRIPT_KEY)));
  assert.deepEqual(after.map((r) => r.status), after.map(() => 200), 'no request fails for a flushed script');
  assert.ok(calls('eval') >= 1, 'NOSCRIPT answered by sending the script');
  assert.ok(calls('script\\|load') >= 1, 'and loaded again for the calls after it');
});

test('Redis down: budgets fail closed with 503 quickly; no hang; recovery after restart', async () => {
  redis.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  const down = await call(0, BUDGET_KEY);
  assert.equal(down.status, 503);
  assert.equal(down.code, 'shared_store_unavailable');
  assert.ok(Date.now() - t0 < 2000, 'answered within the Redis timeout, not hung');
  // Keys without shared limits are not affected.
  assert.equal((await call(1, TEST_KEY)).status, 200);
  redis = await startRedis();
  let back;
  for (let i = 0; i < 40; i++) {
    back = await call(0, RPM_KEY);
    if (back.status !== 503) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(back.status === 200 || back.status === 429, `after restart: ${back.status}`);
});

test('killing one instance leaves the other serving', async () => {
  await gws[0].stop('SIGKILL');
  assert.equal((await call(1, TEST_KEY)).status, 200);
});
