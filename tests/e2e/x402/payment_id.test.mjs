// payment_id.test.mjs — the x402 `payment-identifier` extension (idempotent
// retries) end to end on a local chain with real signed payments: the 402
// advertises it; the official v2 client (@x402/fetch) retrying with the same
// id gets the stored reply (marked x-gaterouter-x402-replay), one settlement,
// the payer's balance moved once; a client that lost its reply resends the
// same header and recovers it; the same id for another request or payer is
// 409; a retry while the first is served is 409 in progress; a failed request
// frees its id; streams and malformed ids are 400; the ids survive a restart.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, b64json, signAuth, toB64,
  waitSettlement, assertCleanLogs,
} from './lib.mjs';

let chain, token, gw;
const deployer = account(0), payTo = account(1);
const agent = account(3), other = account(4);
const config = (storeDir) => gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
  relayerKey: accountKey(2), storeDir });

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  for (const a of [agent, other]) await token.mint(a.address, 10_000_000n);
  gw = await startGateway({ config: config() });
});

after(async () => {
  try { // the chain stops even when the gateway's logs fail the suite (a live anvil keeps node --test waiting)
    if (gw) {
      const code = await gw.stop();
      assertCleanLogs(gw.logs());
      assert.equal(code, 0, `the gateway exits 0 (under valgrind: no memory error, no leak):\n${gw.logs().slice(-3000)}`);
    }
  } finally {
    if (chain) await chain.stop();
  }
});

const chatURL = () => `${gw.base}/v1/chat/completions`;
const post = (body, headers = {}) => fetch(chatURL(), { method: 'POST',
  headers: { 'content-type': 'application/json', ...headers }, body });
const newId = () => `pay_${crypto.randomUUID().replaceAll('-', '')}`;

// The official v2 client, adding the id to the extension the server offers
// (what @x402/extensions' appendPaymentIdentifierToExtensions does).
function officialClient(signer, id) {
  const client = new x402Client();
  registerExactEvmScheme(client, { signer });
  client.setSpendControls({ allowedAssets: [{ network: 'eip155:84532', asset: token.address, maxAmountPerPayment: '1000000' }] });
  client.onBeforePaymentCreation(async ({ paymentRequired }) => {
    const ext = paymentRequired.extensions?.['payment-identifier'];
    assert.ok(ext, 'the 402 offers payment-identifier');
    ext.info = { ...ext.info, id };
  });
  return wrapFetchWithPayment(fetch, client);
}

// A v2 payment signed by hand for body, carrying id.
async function signedHeader(signer, body, id) {
  const q = await post(body);
  assert.equal(q.status, 402);
  await q.text();
  const pr = b64json(q.headers.get('payment-required'));
  const accepted = pr.accepts.find((a) => a.scheme === 'exact');
  const signed = await signAuth(signer, { token: token.address, to: payTo.address, value: BigInt(accepted.amount) });
  return toB64({ x402Version: 2, resource: pr.resource, accepted, payload: signed,
    extensions: id === undefined ? {} : { 'payment-identifier': { info: { id } } } });
}

// Upstream transfers so far: the sum of the upstream duration histogram's counts.
async function upstreamTransfers() {
  const text = await (await fetch(`${gw.base}/metrics`)).text();
  const counts = [...text.matchAll(/^gaterouter_upstream_duration_seconds_count\{[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
  assert.ok(counts.length > 0, 'the metrics list upstream transfers');
  return counts.reduce((a, b) => a + b, 0);
}

const settlementsOf = async (addr) => (await (await fetch(`${gw.base}/v1/x402/credit?address=${addr}`)).json()).settlements;

test('the 402 offers payment-identifier (optional; id 16..128 characters), not for a stream', async () => {
  const r = await post(chatBody('quote', { max_tokens: 16 }));
  assert.equal(r.status, 402);
  await r.text();
  const ext = b64json(r.headers.get('payment-required')).extensions['payment-identifier'];
  assert.equal(ext.info.required, false);
  assert.equal(ext.schema.properties.id.type, 'string');
  assert.equal(ext.schema.properties.id.minLength, 16);
  assert.equal(ext.schema.properties.id.maxLength, 128);
  const s = await post(chatBody('quote', { max_tokens: 16, stream: true }));
  assert.equal(s.status, 402);
  await s.text();
  assert.equal(b64json(s.headers.get('payment-required')).extensions?.['payment-identifier'], undefined);
});

test('official v2 client: a retry with the same id gets the stored reply, one settlement, the balance moves once', async () => {
  const id = newId();
  const body = chatBody('idempotent please', { max_tokens: 32 });
  const fetchPay = officialClient(agent, id);
  const before = await token.balanceOf(agent.address);
  const first = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(first.status, 200);
  const text1 = await first.text();
  const rid = first.headers.get('x-request-id');
  assert.equal(first.headers.get('x-gaterouter-x402-replay'), null);
  const paid = BigInt(decodePaymentResponseHeader(first.headers.get('payment-response')).amount);
  await waitSettlement(gw.base, agent.address, rid);
  const upstreamCalls = await upstreamTransfers();
  // the client retries: a new 402, a new signed authorization, the same id
  const again = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(again.status, 200);
  assert.equal(await again.text(), text1, 'the same body');
  assert.equal(again.headers.get('x-gaterouter-x402-replay'), rid, 'marked as the reply of the first request');
  assert.equal(decodePaymentResponseHeader(again.headers.get('payment-response')).success, true);
  await new Promise((r) => setTimeout(r, 500)); // a second settlement, if any, would start now
  assert.equal(before - await token.balanceOf(agent.address), paid, 'the payer paid once');
  const mine = (await settlementsOf(agent.address)).filter((s) => s.request_id === rid || s.request_id === again.headers.get('x-request-id'));
  assert.equal(mine.length, 1, 'one settlement');
  assert.equal(await upstreamTransfers(), upstreamCalls, 'no second upstream call');
});

test('a client that lost its reply resends the same header and recovers it, uncharged', async () => {
  const id = newId();
  const body = chatBody('lost reply', { max_tokens: 16 });
  const h = { 'payment-signature': await signedHeader(agent, body, id) };
  const first = await post(body, h);
  assert.equal(first.status, 200);
  const text1 = await first.text();
  await waitSettlement(gw.base, agent.address, first.headers.get('x-request-id'));
  const bal = await token.balanceOf(agent.address);
  const again = await post(body, h); // without an id this is a replay (402 nonce used)
  assert.equal(again.status, 200);
  assert.equal(await again.text(), text1);
  assert.equal(again.headers.get('x-gaterouter-x402-replay'), first.headers.get('x-request-id'));
  assert.equal(await token.balanceOf(agent.address), bal);
});

test('a client whose connection drops mid-request: served to the end, the retry gets the kept reply, paid once', async () => {
  const id = newId();
  const body = chatBody('dropped [[mock:delay_ms=1200]]', { max_tokens: 16 });
  const header = await signedHeader(agent, body, id);
  const paid = BigInt(b64json(header).accepted.amount);
  const bal = await token.balanceOf(agent.address);
  const upstreamCalls = await upstreamTransfers();
  // The first attempt: its connection is cut while the upstream generates.
  await new Promise((resolve) => {
    const req = http.request(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json',
      'content-length': Buffer.byteLength(body), 'payment-signature': header } });
    req.on('error', () => resolve());
    req.on('response', () => assert.fail('no reply was expected before the cut'));
    req.end(body);
    setTimeout(() => { req.destroy(); resolve(); }, 400);
  });
  // The client retries with the same header: 409 while the first still runs, then its kept reply.
  let again;
  for (let i = 0; i < 100 && !again; i++) {
    const r = await post(body, { 'payment-signature': header });
    if (r.status === 409) {
      assert.equal((await r.json()).error.code, 'x402_payment_id_in_progress');
      await new Promise((res) => setTimeout(res, 100));
    } else again = r;
  }
  assert.ok(again, 'the first request ended');
  assert.equal(again.status, 200, await again.clone().text());
  await again.text();
  const firstId = again.headers.get('x-gaterouter-x402-replay');
  assert.ok(firstId, 'the kept reply of the first request');
  await waitSettlement(gw.base, agent.address, firstId);
  assert.equal(bal - await token.balanceOf(agent.address), paid, 'paid exactly once');
  assert.equal(await upstreamTransfers(), upstreamCalls + 1, 'one upstream call: the first ran to its end');
});

test('the same id for another request or another payer: 409, nothing charged', async () => {
  const id = newId();
  const body = chatBody('first payload', { max_tokens: 16 });
  const r = await post(body, { 'payment-signature': await signedHeader(agent, body, id) });
  assert.equal(r.status, 200);
  await r.text();
  const otherBody = chatBody('another payload', { max_tokens: 16 });
  const h = await signedHeader(agent, otherBody, id);
  const c = await post(otherBody, { 'payment-signature': h });
  assert.equal(c.status, 409);
  const e = await c.json();
  assert.equal(e.error.code, 'x402_payment_id_conflict');
  assert.equal(e.error.type, 'invalid_request_error');
  const auth = b64json(h).payload.authorization;
  assert.equal(await token.authorizationState(agent.address, auth.nonce), false, 'its authorization was not used');
  const o = await post(body, { 'payment-signature': await signedHeader(other, body, id) });
  assert.equal(o.status, 409, 'another payer cannot read it');
  assert.equal((await o.json()).error.code, 'x402_payment_id_conflict');
});

test('a retry while the first is being served: 409 in progress; then the stored reply', async () => {
  const id = newId();
  const body = chatBody('slow [[mock:delay_ms=1500]]', { max_tokens: 16 });
  const h1 = await signedHeader(agent, body, id);
  const h2 = await signedHeader(agent, body, id);
  const slow = post(body, { 'payment-signature': h1 });
  await new Promise((r) => setTimeout(r, 500));
  const busy = await post(body, { 'payment-signature': h2 });
  assert.equal(busy.status, 409);
  assert.equal((await busy.json()).error.code, 'x402_payment_id_in_progress');
  const first = await slow;
  assert.equal(first.status, 200);
  const text1 = await first.text();
  // The id's record is written on the store executor just after the reply
  // went out: a retry in that window is still told 409 in progress (bounded).
  let later;
  for (let i = 0; i < 50; i++) {
    later = await post(body, { 'payment-signature': h2 });
    if (later.status !== 409) break;
    assert.equal((await later.json()).error.code, 'x402_payment_id_in_progress');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(later.status, 200);
  assert.equal(await later.text(), text1);
});

test('a request that failed frees its id: the retry is served (and paid) anew', async () => {
  const id = newId();
  const body = chatBody('fail [[mock:status=400]]', { max_tokens: 16 });
  const r = await post(body, { 'payment-signature': await signedHeader(agent, body, id) });
  assert.ok(r.status >= 400);
  await r.text();
  const ok = chatBody('now fine', { max_tokens: 16 });
  const s = await post(ok, { 'payment-signature': await signedHeader(agent, ok, id) });
  assert.equal(s.status, 200, 'the id was freed (another payload is fine now)');
  await s.text();
  assert.equal(s.headers.get('x-gaterouter-x402-replay'), null);
  // now the id is that request's: a third payload with it is refused
  const third = chatBody('a third payload', { max_tokens: 16 });
  const t = await post(third, { 'payment-signature': await signedHeader(agent, third, id) });
  assert.equal(t.status, 409);
  assert.equal((await t.json()).error.code, 'x402_payment_id_conflict');
});

test('a stream with an id, or a malformed id: 400', async () => {
  const body = chatBody('stream', { max_tokens: 16, stream: true });
  const s = await post(body, { 'payment-signature': await signedHeader(agent, chatBody('stream', { max_tokens: 16 }), newId()) });
  assert.equal(s.status, 400);
  assert.equal((await s.json()).error.code, 'x402_invalid_payment_id');
  const plain = chatBody('short id', { max_tokens: 16 });
  for (const bad of ['short', 'x'.repeat(129), 'has spaces in it, 16+', 12345678901234567890]) {
    const r = await post(plain, { 'payment-signature': await signedHeader(agent, plain, bad) });
    assert.equal(r.status, 400, `id ${bad}`);
    assert.equal((await r.json()).error.code, 'x402_invalid_payment_id');
  }
});

test('restart: a retry after a gateway restart still gets the stored reply (SQLite or PostgreSQL)', async () => {
  const id = newId();
  const body = chatBody('survive a restart', { max_tokens: 16 });
  const first = await post(body, { 'payment-signature': await signedHeader(agent, body, id) });
  assert.equal(first.status, 200);
  const text1 = await first.text();
  await waitSettlement(gw.base, agent.address, first.headers.get('x-request-id'));
  const dir = gw.dir;
  await gw.stop();
  assertCleanLogs(gw.logs());
  gw = await startGateway({ config: config(dir) });
  const bal = await token.balanceOf(agent.address);
  const again = await post(body, { 'payment-signature': await signedHeader(agent, body, id) });
  assert.equal(again.status, 200);
  assert.equal(await again.text(), text1);
  assert.equal(again.headers.get('x-gaterouter-x402-replay'), first.headers.get('x-request-id'));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await token.balanceOf(agent.address), bal, 'not charged again');
});
