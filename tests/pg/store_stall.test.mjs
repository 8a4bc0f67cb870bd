// store_stall.test.mjs — a slow PostgreSQL store never stalls a worker's loop
// (CTest pg_store_stall, label pg; GR_TEST_STORE_URL from tests/pg/with_pg.sh).
//
// One gateway with ONE worker on PostgreSQL, store.op_timeout_ms 500. Another
// session holds ACCESS EXCLUSIVE locks on x402_nonces and ledger (a stand-in
// for a stalled database: every statement on those tables waits). Meanwhile:
//   * x402 paid requests get 503 x402_store_unavailable within op_timeout_ms
//     (+ slack), and nothing is served;
//   * GET /admin/usage gets 503 in the OpenAI error shape as fast;
//   * plain chat requests on the same worker keep their latency (p50/max are
//     printed next to the figures before the stall).
// After the lock is released, a reservation that landed late keeps the nonce
// spent (the same authorization is refused, never served), the admin API
// answers again, and the gateway drains cleanly on SIGTERM. A reservation
// that lands late also gives back the credit it took, once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { privateKeyToAccount } from 'viem/accounts';
import { startGateway, testStoreUrl } from '../compat/harness.mjs';
import { signAuth, v1Header } from '../e2e/x402/lib.mjs';

const OP_TIMEOUT_MS = 500;
const KEY = 'sk-stall-test-0001';
const ADMIN = 'adm-stall-test-0001';
const TOKEN = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x1111111111111111111111111111111111111111';
// a throwaway key: verification is local (settle: none), no chain involved
const payer = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');

function config(port, dir, server = '') {
  return `
store:
  url: "${testStoreUrl(dir)}"
  threads: 2
  queue_max: 64
  op_timeout_ms: ${OP_TIMEOUT_MS}
server:
  listen: 127.0.0.1:${port}
  workers: 1
${server}log:
  access_log: "off"
  level: info
auth:
  keys: [ { name: test, key: ${KEY} } ]
  admin_key: ${ADMIN}
providers:
  - name: mock
    kind: mock
models:
  - name: mock-gpt
    provider: mock
    model: mock-gpt-1
    pricing: { input: 2.50, output: 10.00 }
    capabilities: [chat, stream]
x402:
  settle: none
  default_max_tokens: 100
  networks:
    - network: base-sepolia
      asset: "${TOKEN}"
      name: USDC
      version: "2"
      pay_to: "${PAY_TO}"
      max_timeout_seconds: 300
`;
}

const chatBody = JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 20 });

async function chat(base) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: chatBody,
  });
  await r.text();
  assert.equal(r.status, 200);
  return performance.now() - t0;
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function quote(base) {
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody });
  await r.text();
  assert.equal(r.status, 402);
  const req = JSON.parse(Buffer.from(r.headers.get('payment-required'), 'base64').toString());
  return req.accepts[0].amount;
}

async function paymentHeader(amount, nonce) {
  const now = Math.floor(Date.now() / 1000);
  const payload = await signAuth(payer, { token: TOKEN, to: PAY_TO, value: amount, validBefore: now + 280, nonce });
  return v1Header(payload);
}

async function paid(base, header) {
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-payment': header }, body: chatBody,
  });
  const body = await r.text();
  return { status: r.status, body, ms: performance.now() - t0 };
}

async function adminUsage(base) {
  const t0 = performance.now();
  const r = await fetch(`${base}/admin/usage?group_by=model`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const body = await r.text();
  return { status: r.status, body, ms: performance.now() - t0 };
}

// Wait (bounded) until the nonce's reservation row is in x402_nonces.
async function nonceLanded(url, nonceHex) {
  const sql = `SELECT count(*) FROM x402_nonces WHERE lower(nonce_key) LIKE '%${nonceHex.toLowerCase()}%'`;
  for (let i = 0; i < 200; i++) {
    if (execFileSync('psql', ['-X', '-qtA', url, '-c', sql], { encoding: 'utf8' }).trim() === '1') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('the late reservation of the stalled request never reached x402_nonces');
}

// Another session takes the locks and holds them for holdS seconds; resolves
// once they are granted.
function holdLocks(url, holdS) {
  const proc = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin.end(`BEGIN;\nLOCK TABLE x402_nonces, ledger IN ACCESS EXCLUSIVE MODE;\n\\echo locked\nSELECT pg_sleep(${holdS});\nCOMMIT;\n`);
  let out = '';
  const locked = new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { out += d; if (out.includes('locked')) resolve(); });
    proc.stderr.on('data', (d) => { out += d; });
    proc.on('exit', (code) => reject(new Error(`psql exited (${code}) before locking: ${out}`)));
  });
  const done = new Promise((resolve) => proc.on('exit', resolve));
  return { locked, done, proc };
}

test('a stalled PostgreSQL store: paid and admin calls fail fast, chat on the same worker keeps its latency', async (t) => {
  assert.ok(process.env.GR_TEST_STORE_URL, 'GR_TEST_STORE_URL (tests/pg/with_pg.sh) is required');
  const gw = await startGateway({ config });
  t.after(() => gw.stop('SIGKILL'));
  const storeUrl = testStoreUrl(gw.dir); // the same database the gateway uses

  // The paid path works on PostgreSQL.
  const amount = await quote(gw.base);
  const ok = await paid(gw.base, await paymentHeader(amount));
  assert.equal(ok.status, 200, ok.body);
  assert.equal((await adminUsage(gw.base)).status, 200);

  // Before: chat latency with an idle store.
  for (let i = 0; i < 5; i++) await chat(gw.base); // warm up
  const before = [];
  for (let i = 0; i < 40; i++) before.push(await chat(gw.base));

  const lock = holdLocks(storeUrl, 4);
  await lock.locked;
  const stalledNonce = `0x${randomBytes(32).toString('hex')}`;
  const stalledHeader = await paymentHeader(amount, stalledNonce);
  const t0 = performance.now();
  // This one's reservation is certainly running (blocked on the lock) when
  // its deadline passes; the three after it may wait in the queue instead.
  const firstP = paid(gw.base, stalledHeader);
  const more = await Promise.all([1, 2, 3].map(() => paymentHeader(amount)));
  await new Promise((r) => setTimeout(r, 100));
  const paidP = Promise.all([firstP, ...more.map((h) => paid(gw.base, h))]);
  const adminP = adminUsage(gw.base);
  const during = [];
  while (performance.now() - t0 < 1500) during.push(await chat(gw.base));
  const paidR = await paidP;
  const adminR = await adminP;

  const fig = (xs) => `p50 ${pct(xs, 50).toFixed(2)} ms, p95 ${pct(xs, 95).toFixed(2)} ms, max ${Math.max(...xs).toFixed(2)} ms, n ${xs.length}`;
  console.log(`chat before the stall: ${fig(before)}`);
  console.log(`chat during the stall: ${fig(during)}`);
  console.log(`paid during the stall: ${paidR.map((p) => `${p.status} in ${p.ms.toFixed(0)} ms`).join(', ')}; admin: ${adminR.status} in ${adminR.ms.toFixed(0)} ms`);
  for (const p of paidR) {
    assert.equal(p.status, 503, p.body);
    assert.equal(JSON.parse(p.body).error.code, 'x402_store_unavailable');
    assert.ok(p.ms < OP_TIMEOUT_MS + 700, `paid request answered after ${p.ms.toFixed(0)} ms (op_timeout_ms ${OP_TIMEOUT_MS})`);
    assert.ok(p.ms >= OP_TIMEOUT_MS - 50, `paid request answered before the deadline (${p.ms.toFixed(0)} ms)?`);
  }
  assert.equal(adminR.status, 503, adminR.body);
  const ae = JSON.parse(adminR.body).error;
  assert.equal(ae.type, 'api_error');
  assert.equal(ae.code, 'store_unavailable');
  assert.ok(adminR.ms < OP_TIMEOUT_MS + 700, `admin call answered after ${adminR.ms.toFixed(0)} ms`);

  assert.ok(during.length >= 20, `only ${during.length} chat requests completed in 1.5 s during the stall`);
  assert.ok(pct(during, 50) < Math.max(5 * pct(before, 50), 25), `chat p50 during the stall ${pct(during, 50).toFixed(1)} ms`);
  assert.ok(Math.max(...during) < OP_TIMEOUT_MS, `a chat request waited ${Math.max(...during).toFixed(0)} ms during the stall`);

  // The lock goes away: the late reservation lands, the nonce stays spent.
  // Wait until it has landed: a replay sent while it is still finishing would
  // race it for the nonce on the other store thread, and either winner is
  // correct (served once) — this checks the late one keeps it spent.
  await lock.done;
  await nonceLanded(storeUrl, stalledNonce.slice(2));
  let replay;
  for (let i = 0; i < 50; i++) { // the late job may still be finishing
    replay = await paid(gw.base, stalledHeader);
    if (replay.status !== 503) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(replay.status, 402, `the same authorization after the stall: ${replay.status} ${replay.body}`);
  assert.match(replay.body, /duplicate_settlement/);
  assert.equal((await adminUsage(gw.base)).status, 200);
  const again = await paid(gw.base, await paymentHeader(amount));
  assert.equal(again.status, 200, again.body);

  // Drains cleanly: queued bookkeeping completes before the store closes.
  assert.equal(await gw.stop('SIGTERM'), 0);
  const logs = gw.logs();
  for (const bad of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:']) assert.ok(!logs.includes(bad), logs.slice(-3000));
});

// Clients that hang up while their store call is in flight (a paid request
// and an admin call, during a stall): the requests are not freed under their
// jobs; the completions find them and answer into the dead sockets, and the
// worker goes on (the ASan run checks for use after free and leaks).
test('a connection lost while its store call is in flight', async (t) => {
  const gw = await startGateway({ config });
  t.after(() => gw.stop('SIGKILL'));
  const storeUrl = testStoreUrl(gw.dir);
  const amount = await quote(gw.base);
  const lock = holdLocks(storeUrl, 2);
  await lock.locked;
  const header = await paymentHeader(amount);
  const hangUp = (request) => new Promise((resolve) => {
    const sock = net.connect(gw.port, '127.0.0.1', () => {
      sock.write(request);
      setTimeout(() => { sock.destroy(); resolve(); }, 150); // gone while the job waits on the lock
    });
    sock.on('error', () => {});
  });
  await Promise.all([
    hangUp(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `X-PAYMENT: ${header}\r\nContent-Length: ${Buffer.byteLength(chatBody)}\r\n\r\n${chatBody}`),
    hangUp(`GET /admin/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\n\r\n`),
  ]);
  await new Promise((r) => setTimeout(r, 700)); // past op_timeout_ms: the completions ran
  for (let i = 0; i < 5; i++) await chat(gw.base); // the worker is fine
  const m = await (await fetch(`${gw.base}/metrics`)).text();
  await lock.done;
  assert.match(m, /gaterouter_requests_total\{route="\/v1\/chat\/completions",status="(499|503)"/);
  assert.match(m, /gaterouter_requests_total\{route="\/admin\/\*",status="(499|503)"/);
  assert.equal(await gw.stop('SIGTERM'), 0);
  const logs = gw.logs();
  for (const bad of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:']) assert.ok(!logs.includes(bad), logs.slice(-3000));
});

// A reservation that lands after its request was answered 503 also took the
// payer's credit (the payment covered nothing: the credit pays it all): the
// same store call gives that credit back, exactly once.
test('a late reservation gives back the credit it took', async (t) => {
  const gw = await startGateway({ config });
  t.after(() => gw.stop('SIGKILL'));
  const storeUrl = testStoreUrl(gw.dir);
  const addr = payer.address.toLowerCase();
  const seeded = 1000000000; // $1 of credit, far above this request's maximum
  await new Promise((resolve, reject) => {
    const p = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', storeUrl, '-c',
      `INSERT INTO x402_credit(payer,nusd,updated_ms) VALUES('${addr}',${seeded},0) ON CONFLICT (payer) DO UPDATE SET nusd=${seeded}`]);
    p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`psql ${c}`))));
  });
  const credit = async () => (await (await fetch(`${gw.base}/v1/x402/credit?address=${payer.address}`)).json()).credit_nusd;
  assert.equal(await credit(), seeded);
  // the quote for this payer is 0: its credit covers the whole maximum
  const q = await fetch(`${gw.base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-payer': payer.address }, body: chatBody });
  await q.text();
  assert.equal(JSON.parse(Buffer.from(q.headers.get('payment-required'), 'base64').toString()).accepts[0].amount, '0');
  const lock = holdLocks(storeUrl, 1.5);
  await lock.locked;
  const header = await paymentHeader(0);
  const r = await paid(gw.base, header);
  assert.equal(r.status, 503, r.body);
  await lock.done;
  let c;
  for (let i = 0; i < 50; i++) { // the late call: reserve, take, then give back
    c = await credit();
    if (c === seeded && /stays spent/.test(gw.logs())) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(gw.logs(), /reserved after its request timed out/);
  assert.equal(c, seeded, 'the credit taken by the late reservation was given back, once');
  const again = await paid(gw.base, header); // the nonce stays spent
  assert.equal(again.status, 402);
  assert.equal(await credit(), seeded);
  const fresh = await paid(gw.base, await paymentHeader(0)); // a new authorization is served from credit
  assert.equal(fresh.status, 200, fresh.body);
  assert.ok((await credit()) < seeded);
  assert.equal(await gw.stop('SIGTERM'), 0);
});
