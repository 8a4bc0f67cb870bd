// lease.test.mjs — a settlement job is sent by one instance at a time (the
// sending lease, src/x402/x402_settle.c). Instance A admits a payment and starts
// settling it through a stand-in facilitator that holds the /settle call
// open. Instance B starts on the same store meanwhile and, as every instance
// does at start and in its sweeps, looks for jobs to take over: it must leave
// this one to A (A is alive: its heartbeat is fresh, and its lease is
// running), so the facilitator sees exactly one /settle. Then
// the facilitator answers and A finishes the job once. Runs on SQLite (both
// instances on one file) and, in e2e_x402_pg, on PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { startGateway, testStoreUrl } from '../../compat/harness.mjs';
import { signAuth, v1Header } from './lib.mjs';

const TOKEN = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x2222222222222222222222222222222222222222';
const payer = privateKeyToAccount('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a');

function config(storeUrl, facilitator) {
  return (port) => `
store: "${storeUrl}"
server:
  listen: 127.0.0.1:${port}
  workers: 1
log:
  access_log: "off"
  level: info
auth:
  keys: [ { name: test, key: sk-lease-test-0001 } ]
providers:
  - name: mock
    kind: mock
models:
  - name: mock-gpt
    provider: mock
    model: mock-gpt-1
    pricing: { input: 2.50, output: 10.00 }
    capabilities: [chat]
x402:
  settle: facilitator
  preflight: { enabled: false }  # the stand-in answers /settle only
  default_max_tokens: 100
  networks:
    - network: base-sepolia
      asset: "${TOKEN}"
      name: USDC
      version: "2"
      pay_to: "${PAY_TO}"
      facilitator_url: ${facilitator}
      max_timeout_seconds: 300
`;
}

const chatBody = JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });

async function paymentHeader(amount) {
  const now = Math.floor(Date.now() / 1000);
  const payload = await signAuth(payer, { token: TOKEN, to: PAY_TO, value: amount, validBefore: now + 280 });
  return v1Header(payload);
}

test('a job another live instance is sending is not sent again by an instance resuming at start', async (t) => {
  // the stand-in facilitator: counts /settle calls and holds them until released
  const held = [];
  let settles = 0;
  const fac = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url !== '/settle') { res.writeHead(404).end(); return; }
      settles++;
      held.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        success: true, transaction: `0x${'ab'.repeat(32)}`, network: 'base-sepolia', payer: payer.address })));
    });
  });
  await new Promise((r) => fac.listen(0, '127.0.0.1', r));
  t.after(() => { for (const h of held.splice(0)) h(); fac.close(); });
  const facUrl = `http://127.0.0.1:${fac.address().port}`;
  const shared = mkdtempSync(join(tmpdir(), 'gr-lease-'));
  const storeUrl = testStoreUrl(shared);

  const a = await startGateway({ config: config(storeUrl, facUrl) });
  t.after(() => a.stop('SIGKILL'));
  const q = await fetch(`${a.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody });
  const quoteBody = await q.text();
  assert.equal(q.status, 402, `the unpaid request is quoted: ${q.status} ${quoteBody}\n${a.logs().slice(-2000)}`);
  const amount = JSON.parse(Buffer.from(q.headers.get('payment-required'), 'base64').toString()).accepts[0].amount;
  const r = await fetch(`${a.base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-payment': await paymentHeader(amount) }, body: chatBody });
  await r.text();
  assert.equal(r.status, 200);
  const rid = r.headers.get('x-request-id');
  for (let i = 0; i < 100 && settles < 1; i++) await new Promise((res) => setTimeout(res, 50));
  assert.equal(settles, 1, 'instance A is sending the settlement');

  // B starts on the same store while A's /settle is in flight
  const b = await startGateway({ config: config(storeUrl, facUrl) });
  t.after(() => b.stop('SIGKILL'));
  await new Promise((res) => setTimeout(res, 2500)); // B's start-up and a sweep (every 2 s by default)
  assert.equal(settles, 1, 'B sent the job A is sending');
  assert.match(b.logs(), /settling as instance/);
  assert.doesNotMatch(b.logs(), /took over settlement/);

  // the facilitator answers A: settled once
  for (const h of held.splice(0)) h();
  let s;
  for (let i = 0; i < 100; i++) {
    const j = await (await fetch(`${b.base}/v1/x402/payments?id=${rid}`)).json();
    s = j.state;
    if (s === 'settled') break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(s, 'settled');
  assert.equal(settles, 1);
  assert.equal(await b.stop('SIGTERM'), 0);
  assert.equal(await a.stop('SIGTERM'), 0);
  for (const gw of [a, b])
    for (const bad of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:']) assert.ok(!gw.logs().includes(bad));
});
