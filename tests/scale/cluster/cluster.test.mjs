// cluster.test.mjs — the cluster as an operator runs it: two gateways on one
// PostgreSQL (GR_TEST_STORE_URL, from tests/pg/with_pg.sh, reached through a
// TCP relay this suite can cut) and one Redis (started here on a free port).
// Issue #26: every served request billed once, budgets exact through Redis
// restarts, spend views cluster-wide, refused requests consume nothing, a
// dead instance's reservations lapse, and PostgreSQL down answers 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, freePort, repoRoot } from '../../compat/harness.mjs';

const ADMIN = 'admin-key-cluster-suite-0001';
const RESERVATION_TTL_MS = 2000;
const pgUrl = new URL(process.env.GR_TEST_STORE_URL || 'postgres://missing');
let redisPort, redis, relay, gws = [];

// ---- Redis (throwaway, no persistence: a restart loses every counter) ----
async function startRedis() {
  const proc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await new Promise((resolve) => {
      const s = net.connect(redisPort, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    })) return proc;
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}
const redisCli = (...args) => execFileSync('redis-cli', ['-p', String(redisPort), ...args], { encoding: 'utf8' });

// ---- a TCP relay to PostgreSQL that can be cut (PostgreSQL "down") and restored ----
function startRelay(port, target) {
  const socks = new Set();
  let server = null;
  const listen = () => new Promise((resolve, reject) => {
    server = net.createServer((c) => {
      const up = net.connect(target.port, target.host);
      socks.add(c); socks.add(up);
      c.pipe(up); up.pipe(c);
      const close = () => { c.destroy(); up.destroy(); socks.delete(c); socks.delete(up); };
      c.on('error', close); up.on('error', close); c.on('close', close); up.on('close', close);
    });
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    listen,
    async cut() { // stop listening, then drop every open connection (close() waits for them)
      const closed = new Promise((r) => server.close(r));
      for (const s of socks) s.destroy();
      socks.clear();
      await closed;
    },
    async close() { if (server.listening) await this.cut(); },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const config = (relayPort) => (port) => `
server: { listen: 127.0.0.1:${port}, workers: 2, keys_refresh_ms: 200 }
store: "postgres://${pgUrl.username}:${pgUrl.password}@127.0.0.1:${relayPort}${pgUrl.pathname}"
log: { access_log: "off", level: info }
auth: { admin_key: ${ADMIN} }
redis: { url: "redis://127.0.0.1:${redisPort}/0", timeout_ms: 500, reconnect_ms: 100, reservation_ttl_ms: ${RESERVATION_TTL_MS} }
routing: { health: { rate_limit_cooldown_ms: 0, consecutive_failures: 100000 } }
providers: [ { name: mock, kind: mock } ]
models: [ { name: m, provider: mock, model: m-1, pricing: { input: 1, output: 10 } } ]
`;
let gwConfig;

before(async () => {
  assert.ok(pgUrl.protocol === 'postgres:', 'GR_TEST_STORE_URL must point at the test PostgreSQL');
  redisPort = await freePort();
  redis = await startRedis();
  const relayPort = await freePort();
  relay = startRelay(relayPort, { host: pgUrl.hostname, port: Number(pgUrl.port) });
  await relay.listen();
  gwConfig = config(relayPort);
  gws = await Promise.all([startGateway({ config: gwConfig }), startGateway({ config: gwConfig })]);
});
after(async () => {
  for (const g of gws) await g.stop('SIGKILL');
  redis?.kill('SIGKILL');
  await relay?.close();
});

test('redis.reservation_ttl_ms is validated at load: --check-config refuses what start-up would', () => {
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const dir = mkdtempSync(join(tmpdir(), 'gr-cluster-cfg-'));
  const check = (ttl) => {
    const path = join(dir, `c${ttl}.yaml`);
    writeFileSync(path, `redis: { url: "redis://127.0.0.1:1/0", reservation_ttl_ms: ${ttl} }
providers: [ { name: mock, kind: mock } ]
models: [ { name: m, provider: mock, model: m-1 } ]
`);
    return spawnSync(bin, ['--check-config', path], { encoding: 'utf8' });
  };
  const bad = check(999);
  assert.equal(bad.status, 1, bad.stdout);
  assert.match(bad.stderr, /redis\.reservation_ttl_ms/);
  assert.equal(check('soon').status, 1, 'not a duration');
  assert.equal(check(2000).status, 0);
});

const admin = (g, method, path, body) => fetch(`${g.base}${path}`, { method,
  headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
const chat = (g, key, { content = 'hi', max_tokens = 20 } = {}) => fetch(`${g.baseURL}/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }], max_tokens }),
}).then(async (r) => ({ status: r.status, headers: r.headers, body: await r.json().catch(() => null) }),
  (e) => ({ status: 0, error: String(e.cause?.code || e.message) }));
const eventually = async (fn, ms = 5000) => {
  let v;
  for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(100)) if ((v = await fn())) return v;
  return v;
};
async function newKey(spec) {
  const r = await admin(gws[0], 'POST', '/admin/keys', spec);
  assert.equal(r.status, 201);
  const k = await r.json();
  // visible on the other instance after server.keys_refresh_ms
  assert.ok(await eventually(async () => (await admin(gws[1], 'GET', `/admin/keys/${k.id}`)).status === 200));
  return k;
}
const usage = async (g, id) => (await (await admin(g, 'GET', `/admin/usage?group_by=key&key_id=${id}`)).json()).total;
const keyView = async (g, id) => (await (await admin(g, 'GET', `/admin/keys/${id}`)).json());

test('both instances restarted together, then 5 x 200 requests split across them: exactly one ledger row per served request', async () => {
  assert.deepEqual(await Promise.all(gws.map((g) => g.stop())), [0, 0], 'both drained and exited cleanly');
  gws = await Promise.all([startGateway({ config: gwConfig }), startGateway({ config: gwConfig })]);
  const k = await newKey({ name: 'ids' });
  let served = 0;
  for (let round = 0; round < 5; round++) {
    const res = await Promise.all(Array.from({ length: 200 }, (_, i) => chat(gws[i % 2], k.key)));
    served += res.filter((r) => r.status === 200).length;
  }
  assert.equal(served, 1000, 'every request served');
  const u = await eventually(async () => { const t = await usage(gws[1], k.id); return t.requests >= served ? t : null; });
  const t = u ?? await usage(gws[1], k.id);
  assert.equal(t.requests, served, `ledger rows ${t.requests} for ${served} served requests`);
  for (const g of gws) assert.match(await (await fetch(`${g.base}/metrics`)).text(), /^gaterouter_ledger_conflicts_total 0$/m);
});

// Serves alternately on both instances until the key's budget refuses.
async function exhaust(k) {
  let cost = 0, served = 0;
  for (let i = 0; i < 40; i++) {
    const r = await chat(gws[i % 2], k.key);
    if (r.status === 200) { served++; cost += r.body.usage.cost; } else assert.equal(r.status, 402);
  }
  assert.ok(served >= 2, `served ${served}`);
  assert.ok(cost <= 0.001 + 1e-12, `spent ${cost} within the budget`);
  return cost;
}

test('an exhausted budget: GET /admin/keys/{id} and /v1/key on both instances show the cluster spend', async () => {
  const k = await newKey({ name: 'views', budget_usd: '0.001' });
  const cost = await exhaust(k);
  // Redis' cluster-wide counter holds exactly what was served (seeded at 0, then every settlement)
  assert.equal(Number(redisCli('GET', `gr:k:{${k.id}}:spent`).trim()), Math.round(cost * 1e9));
  for (const g of gws) { // within keys_refresh_ms
    const v = await eventually(async () => { const x = await keyView(g, k.id); return Math.abs(Number(x.spend.total_usd) - cost) < 1e-12 ? x : null; });
    assert.ok(v, `cluster spend on ${g.base}: ${JSON.stringify((await keyView(g, k.id)).spend)} vs ${cost}`);
    const own = await (await fetch(`${g.baseURL}/key`, { headers: { authorization: `Bearer ${k.key}` } })).json();
    assert.ok(Math.abs(Number((own.data ?? own).spend.total_usd) - cost) < 1e-12, 'GET /v1/key shows the cluster spend');
  }
});

test('an exhausted budget, then Redis restarted (every counter lost): nothing more is served', async () => {
  const k = await newKey({ name: 'redis-restart', budget_usd: '0.001' });
  await exhaust(k);
  redis.kill('SIGKILL');
  await sleep(200);
  redis = await startRedis();
  const after = [];
  for (let i = 0; i < 20; i++) {
    const r = await chat(gws[i % 2], k.key);
    if (r.status === 503) { await sleep(100); continue; } // reconnecting
    after.push(r.status);
  }
  assert.ok(after.length >= 10, `answers after the restart: ${after}`);
  assert.deepEqual(after.filter((s) => s === 200), [], `nothing served after the Redis restart: ${after}`);
  await sleep(500); // every worker's connection is back (reconnect_ms: 100) before the next test
});

test('requests refused by Redis consume nothing locally; Retry-After is the window reset', async () => {
  if (new Date().getSeconds() > 50) await sleep((61 - new Date().getSeconds()) * 1000); // one calendar minute
  const k = await newKey({ name: 'rpm', rpm: 3 });
  for (let i = 0; i < 3; i++) assert.equal((await chat(gws[1], k.key)).status, 200);
  for (let i = 0; i < 3; i++) {
    const r = await chat(gws[0], k.key);
    assert.equal(r.status, 429);
    const ra = Number(r.headers.get('retry-after'));
    const toReset = 60 - new Date().getSeconds();
    assert.ok(ra >= 1 && Math.abs(ra - toReset) <= 2, `Retry-After ${ra}, window resets in ${toReset} s`);
  }
  // The cluster window resets (as at the next minute): #0 must admit again,
  // its own window holding nothing of the refused requests.
  const keys = redisCli('--scan', '--pattern', `gr:k:{${k.id}}:rpm:*`).split('\n').filter(Boolean);
  assert.ok(keys.length >= 1);
  redisCli('DEL', ...keys);
  const r = await chat(gws[0], k.key);
  assert.equal(r.status, 200, `after the cluster window reset: ${r.status} ${JSON.stringify(r.body)}`);
});

test('PostgreSQL down: /admin/usage and POST /admin/keys answer 503 store_unavailable, /ready 503; all recover', async () => {
  await relay.cut();
  try {
    const u = await admin(gws[0], 'GET', '/admin/usage');
    assert.equal(u.status, 503);
    assert.equal((await u.json()).error.code, 'store_unavailable');
    const c = await admin(gws[1], 'POST', '/admin/keys', { name: 'down' });
    assert.equal(c.status, 503);
    assert.equal((await c.json()).error.code, 'store_unavailable');
    for (const g of gws) {
      const st = await eventually(async () => ((await fetch(`${g.base}/ready`)).status === 503 ? 503 : null), 3000);
      assert.equal(st, 503, '/ready reports the store gone');
    }
  } finally {
    await relay.listen();
  }
  for (const g of gws) assert.ok(await eventually(async () => (await fetch(`${g.base}/ready`)).status === 200), '/ready again');
  assert.equal((await admin(gws[1], 'POST', '/admin/keys', { name: 'back' })).status, 201);
});

test('reservations of a live instance are renewed; an instance killed with requests in flight: its reservations lapse within their expiry', async () => {
  const k = await newKey({ name: 'lapse', budget_usd: '0.025' });
  // Each request reserves about $0.01 (1,000 output tokens at $10/M): two in flight on #0 leave no room.
  const ended = [];
  const slow = [0, 1].map(() => chat(gws[0], k.key, { content: 'slow [[mock:delay_ms=30000]]', max_tokens: 1000 })
    .then((r) => { ended.push(r.status); return r; }));
  // #0's live reservations, as Redis holds them (field <instance id>; <instance id>:e is the expiry)
  const reservedNusd = () => {
    const kv = redisCli('HGETALL', `gr:k:{${k.id}}:res`).split('\n').filter(Boolean);
    let sum = 0;
    for (let i = 0; i + 1 < kv.length; i += 2) if (!kv[i].endsWith(':e')) sum += Number(kv[i + 1]);
    return sum;
  };
  await eventually(async () => ended.length > 0 || reservedNusd() >= 2e7);
  assert.deepEqual(ended, [], 'the slow requests are still in flight');
  assert.ok(reservedNusd() >= 2e7, `both reservations in Redis: ${reservedNusd()} nano-USD`);
  const blocked = await chat(gws[1], k.key, { max_tokens: 1000 });
  assert.equal(blocked.status, 402, 'the in-flight reservations hold the budget');
  // While #0 lives, it renews its reservations: they outlast the expiry.
  await sleep(RESERVATION_TTL_MS + 500);
  assert.deepEqual(ended, [], 'the slow requests are still in flight');
  assert.equal((await chat(gws[1], k.key, { max_tokens: 1000 })).status, 402, 'a live instance keeps its reservations');
  const killedAt = Date.now();
  await gws[0].stop('SIGKILL');
  await Promise.all(slow);
  let ok = null;
  while (!ok && Date.now() - killedAt < RESERVATION_TTL_MS + 3000) {
    const r = await chat(gws[1], k.key, { max_tokens: 1000 });
    if (r.status === 200) ok = Date.now() - killedAt;
    else { assert.equal(r.status, 402); await sleep(200); }
  }
  assert.ok(ok !== null, `the dead instance's reservations never lapsed (expiry ${RESERVATION_TTL_MS} ms)`);
  assert.ok(ok <= RESERVATION_TTL_MS + 1000, `lapsed after ${ok} ms`);
});
