// responses_x402.test.mjs — POST /v1/responses paid with x402, as on chat
// completions (issue 21): no key and no payment gets the 402 quote in the
// x402 header; a signed EIP-3009 authorization for the quoted amount is
// verified locally (settle: none, no chain) and served, metered, with the
// route headers; the same authorization twice is refused (replay guard); a
// paid response is never stored, and previous_response_id without a key is a
// clear 400, never a lookup of someone else's conversation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount } from 'viem/accounts';
import { startGateway } from './harness.mjs';
import { paidConfig } from './paid_config.mjs';
import { signAuth, v1Header } from '../e2e/x402/lib.mjs';

const TOKEN = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x209693Bc6afc0C5328bA36FaF03C514EF312287C';
// a throwaway key: verification is local (settle: none), no chain involved
const payer = privateKeyToAccount('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a');
let gw;

before(async () => {
  gw = await startGateway({
    config: (port, dir) => paidConfig(port, dir, { unused: ['gr-responses-x402-unused-0001', 1] }, `providers: [ { name: mock, kind: mock } ]
models:
  - { name: m, provider: mock, model: m-1, pricing: { input: 2.5, output: 10 }, capabilities: [chat, stream] }
`),
  });
});
after(async () => { await gw?.stop(); });

const body = (extra = {}) => JSON.stringify({ model: 'm', input: 'Say hello in five words.', max_output_tokens: 64, ...extra });
const post = (b, headers = {}) => fetch(`${gw.base}/v1/responses`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b,
});

async function quote(b) {
  const r = await post(b);
  const text = await r.text();
  assert.equal(r.status, 402, text);
  const req = JSON.parse(Buffer.from(r.headers.get('payment-required'), 'base64').toString());
  assert.ok(req.accepts?.length >= 1, JSON.stringify(req));
  return BigInt(req.accepts[0].amount);
}

async function pay(amount) {
  const now = Math.floor(Date.now() / 1000);
  const payload = await signAuth(payer, { token: TOKEN, to: PAY_TO, value: String(amount), validBefore: now + 280 });
  return v1Header(payload);
}

test('x402: unpaid /v1/responses gets a 402 quote; paid, it is served and metered within the quote', async () => {
  const amount = await quote(body());
  assert.ok(amount > 0n, 'a positive quote');
  const header = await pay(amount);
  const r = await post(body(), { 'x-payment': header });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const resp = JSON.parse(text);
  assert.equal(resp.object, 'response');
  assert.equal(resp.status, 'completed');
  assert.ok(resp.output.some((o) => o.type === 'message'), text);
  assert.ok(resp.usage.input_tokens > 0 && resp.usage.output_tokens > 0, text);
  // cost in USD; the quote is in USDC atomic units (6 decimals)
  assert.ok(resp.usage.cost > 0 && resp.usage.cost * 1e6 <= Number(amount) + 1e-6, `cost ${resp.usage.cost} vs quote ${amount}`);
  assert.equal(r.headers.get('x-gaterouter-model'), 'm');
  assert.ok(r.headers.get('x-payment-response') || r.headers.get('payment-response'), 'a payment response header');
  // the same authorization again: refused, nothing served
  const again = await post(body(), { 'x-payment': header });
  const againText = await again.text();
  assert.equal(again.status, 402, againText);
  // never stored: a paid response has no owner to scope it to
  const get = await fetch(`${gw.base}/v1/responses/${resp.id}`);
  assert.notEqual(get.status, 200, 'a paid response is not retrievable');
});

test('x402: a paid stream ends with response.completed carrying usage and cost', async () => {
  const b = body({ stream: true });
  const amount = await quote(b);
  const r = await post(b, { 'x-payment': await pay(amount) });
  assert.equal(r.status, 200);
  const text = await r.text();
  const events = text.split('\n\n').filter((e) => e.includes('data: ')).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
  const done = events.find((e) => e.type === 'response.completed');
  assert.ok(done, text.slice(-400));
  assert.ok(done.response.usage.cost > 0 && done.response.usage.cost * 1e6 <= Number(amount) + 1e-6);
});

test('x402: previous_response_id with a payment and no key is a 400 naming the field', async () => {
  const b = body({ previous_response_id: 'resp_0123456789abcdef' });
  const r = await post(b, { 'x-payment': await pay(1000000n) });
  const text = await r.text();
  assert.equal(r.status, 400, text);
  const e = JSON.parse(text).error;
  assert.equal(e.param, 'previous_response_id', text);
});
