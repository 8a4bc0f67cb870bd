// selfsettle.test.mjs — x402 end to end on a local chain with self-settlement:
// the official v1 (x402-fetch) and v2 (@x402/fetch + @x402/evm) clients pay
// GateRouter with viem wallets and no API key; the gateway verifies locally,
// serves (streaming too), settles transferWithAuthorization with its relayer
// key, and records credit = paid - actual cost. Plus the rejection matrix and
// 50 concurrent replays of one payment.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { wrapFetchWithPayment as wrapV1, decodeXPaymentResponse } from 'x402-fetch';
import { wrapFetchWithPayment as wrapV2, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { getAddress } from 'viem';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, b64json, signAuth,
  v1Header, v2Header, waitSettlement, assertCleanLogs, ledgerRow, usdToNusd, generatePrivateKey, privateKeyToAccount, randomNonce, toB64,
} from './lib.mjs';

let chain, token, gw;
const deployer = account(0), payTo = account(1), relayer = account(2);
const agents = [account(3), account(4), account(5), account(6)];
const timings = {};

before(async () => {
  let t = Date.now();
  chain = await startAnvil();
  timings.anvil_ms = Date.now() - t;
  t = Date.now();
  token = await deployToken(chain, deployer);
  timings.compile_deploy_ms = Date.now() - t;
  for (const a of agents) await token.mint(a.address, 10_000_000n); // 10 USDC each
  gw = await startGateway({ config: gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
    relayerKey: accountKey(2) }) });
});

after(async () => {
  if (gw) { await gw.stop(); assertCleanLogs(gw.logs()); }
  if (chain) await chain.stop();
  console.log(`# e2e timings: ${JSON.stringify(timings)}`);
});

const chatURL = () => `${gw.base}/v1/chat/completions`;
const post = (body, headers = {}) => fetch(chatURL(), { method: 'POST',
  headers: { 'content-type': 'application/json', ...headers }, body });

async function quote(body = chatBody(), headers = {}) {
  const r = await post(body, headers);
  assert.equal(r.status, 402);
  const j = await r.json();
  const v2 = b64json(r.headers.get('payment-required'));
  return { r, j, v2, req: j.accepts[0], amount: BigInt(j.accepts[0].maxAmountRequired) };
}

// Reads the served cost (nano-USD) from the response.
function costOf(res, bodyJson) {
  const h = res.headers.get('x-gaterouter-cost');
  if (h) return usdToNusd(h);
  return usdToNusd(String(bodyJson.usage.cost));
}

async function checkSettled({ payer, requestId, amount, cost, before: b }) {
  const { credit, settlement } = await waitSettlement(gw.base, payer.address, requestId);
  assert.equal(settlement.state, 'settled', JSON.stringify(settlement));
  assert.match(settlement.transaction, /^0x[0-9a-f]{64}$/);
  const rc = await chain.publicClient.getTransactionReceipt({ hash: settlement.transaction });
  assert.equal(rc.status, 'success');
  assert.equal(getAddress(rc.from), relayer.address);
  const payerAfter = await token.balanceOf(payer.address);
  const payToAfter = await token.balanceOf(payTo.address);
  assert.equal(b.payer - payerAfter, amount, 'payer balance dropped by exactly the settled amount');
  assert.equal(payToAfter - b.payTo, amount, 'payTo balance rose by exactly the settled amount');
  assert.equal(BigInt(settlement.paid_nusd), amount * 1000n);
  assert.equal(BigInt(settlement.cost_nusd), cost);
  return { credit, settlement, rc };
}

const balances = async (payer) => ({ payer: await token.balanceOf(payer.address), payTo: await token.balanceOf(payTo.address) });

test('402 quote: v1 body and v2 PAYMENT-REQUIRED header, amount = max cost in atomic units', async () => {
  const { r, j, v2, req, amount } = await quote(chatBody('hi', { max_tokens: 500 }));
  assert.equal(j.x402Version, 1);
  assert.equal(j.error, 'X-PAYMENT header is required');
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(req.scheme, 'exact');
  assert.equal(req.network, 'base-sepolia');
  assert.equal(getAddress(req.asset), token.address);
  assert.equal(getAddress(req.payTo), payTo.address);
  assert.equal(req.resource, chatURL());
  assert.deepEqual(req.extra, { name: 'USDC', version: '2' });
  assert.match(req.description, /mock-gpt/);
  assert.match(req.description, /\$10\/Mtok output/);
  // prompt estimate x $2.50/M + 500 x $10/M, rounded up to 1e-6 USDC
  const m = req.description.match(/~(\d+) prompt tokens/);
  const prompt = BigInt(m[1]);
  const nusd = prompt * 2500n + 500n * 10000n;
  assert.equal(amount, (nusd + 999n) / 1000n);
  assert.equal(v2.x402Version, 2);
  assert.equal(v2.accepts[0].network, 'eip155:84532');
  assert.equal(BigInt(v2.accepts[0].amount), amount);
  assert.equal(v2.resource.url, chatURL());
  // default cap when the request gives none
  const d = await quote(chatBody('hi'));
  assert.match(d.req.description, /1000 max output tokens/);
  // an API key still works and skips payment
  const k = await post(chatBody('hi'), { authorization: 'Bearer sk-test-x402-0001' });
  assert.equal(k.status, 200);
  // an unpriced model cannot be bought
  const f = await post(JSON.stringify({ model: 'free-model', messages: [{ role: 'user', content: 'x' }] }));
  assert.equal(f.status, 402);
  assert.equal((await f.json()).error.code, 'x402_model_not_priced');
});

test('discovery: GET /v1/x402/pricing', async () => {
  const r = await fetch(`${gw.base}/v1/x402/pricing`);
  assert.equal(r.status, 200);
  const j = await r.json();
  assert.equal(j.accepts[0].network, 'eip155:84532');
  assert.equal(j.accepts[0].network_v1, 'base-sepolia');
  assert.equal(j.accepts[0].asset, token.address);
  const m = j.models.find((x) => x.model === 'mock-gpt');
  assert.equal(m.input_usd_per_mtok, '2.5');
  assert.equal(m.output_usd_per_mtok, '10');
  assert.ok(!j.models.find((x) => x.model === 'free-model'));
  assert.ok(j.resources.some((x) => x.resource.endsWith('/v1/chat/completions')));
});

test('v1 x402-fetch: 402 -> pay -> answer, settled on chain, credit = paid - cost', async () => {
  const agent = agents[0];
  const wallet = chain.wallet(agent);
  const fetchPay = wrapV1(fetch, wallet);
  const body = chatBody('Tell me about payments.', { max_tokens: 200 });
  const { amount } = await quote(body); // the same request gets the same quote
  const b = await balances(agent);
  const t0 = Date.now();
  const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  timings.v1_paid_request_ms = Date.now() - t0;
  assert.equal(res.status, 200);
  const out = await res.json();
  assert.ok(out.choices[0].message.content.length > 0);
  const pr = decodeXPaymentResponse(res.headers.get('x-payment-response'));
  assert.equal(pr.success, true);
  assert.equal(getAddress(pr.payer), agent.address);
  assert.equal(pr.network, 'base-sepolia');
  assert.equal(res.headers.get('x-gaterouter-x402-settlement'), 'pending');
  const cost = costOf(res, out);
  const t1 = Date.now();
  const { credit, settlement } = await checkSettled({ payer: agent, requestId: res.headers.get('x-request-id'), amount, cost, before: b });
  timings.v1_settle_wait_ms = Date.now() - t1;
  assert.equal(BigInt(settlement.amount), amount);
  assert.equal(BigInt(credit.credit_nusd), amount * 1000n - cost, 'credit = paid - actual cost');
  timings.v1 = { paid_atomic: String(amount), cost_nusd: String(cost), credit_nusd: credit.credit_nusd };
  // the ledger row carries payer, amount, network, tx hash, settlement state and credit delta
  const row = await ledgerRow(gw.base, res.headers.get('x-request-id'));
  assert.equal(row.key_id, 'x402');
  assert.equal(row.payer, agent.address.toLowerCase());
  assert.equal(row.x402.settlement, 'settled');
  assert.equal(row.x402.transaction, settlement.transaction);
  assert.equal(row.x402.amount_atomic, String(amount));
  assert.equal(row.x402.network, 'eip155:84532');
  assert.equal(usdToNusd(row.x402.credit_delta_usd), amount * 1000n - cost);
  assert.equal(BigInt(row.cost_nusd), cost);
  // v1 streaming through the same client
  const b2 = await balances(agent);
  const sbody = chatBody('Stream please.', { max_tokens: 100, stream: true });
  const q2 = await quote(sbody);
  const res2 = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: sbody });
  assert.equal(res2.status, 200);
  assert.match(res2.headers.get('content-type'), /text\/event-stream/);
  assert.match(await res2.text(), /data: \[DONE\]/);
  assert.equal(decodeXPaymentResponse(res2.headers.get('x-payment-response')).success, true);
  const s2 = await waitSettlement(gw.base, agent.address, res2.headers.get('x-request-id'));
  assert.equal(s2.settlement.state, 'settled');
  assert.equal(b2.payer - await token.balanceOf(agent.address), q2.amount);
  // the ledger row carries the x402 fields
  assert.equal(BigInt(s2.credit.credit_nusd), BigInt(credit.credit_nusd) + q2.amount * 1000n - BigInt(s2.settlement.cost_nusd));
});

test('v2 @x402/fetch: 402 (PAYMENT-REQUIRED header) -> pay -> answer, and a stream', async () => {
  const agent = agents[1];
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: agent });
  client.setSpendControls({ allowedAssets: [{ network: 'eip155:84532', asset: token.address, maxAmountPerPayment: '1000000' }] });
  const fetchPay = wrapV2(fetch, client);
  for (const stream of [false, true]) {
    const b = await balances(agent);
    const creditBefore = BigInt((await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json()).credit_nusd);
    const t0 = Date.now();
    const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' },
      body: chatBody('Stream me a story.', { max_tokens: 300, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }) });
    assert.equal(res.status, 200);
    let cost;
    if (stream) {
      const text = await res.text();
      timings.v2_stream_ms = Date.now() - t0;
      assert.match(text, /data: \[DONE\]/);
      const last = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).filter((c) => c.usage).pop();
      cost = usdToNusd(String(last.usage.cost));
    } else {
      const body = await res.json();
      timings.v2_paid_request_ms = Date.now() - t0;
      cost = costOf(res, body);
    }
    const pr = decodePaymentResponseHeader(res.headers.get('payment-response'));
    assert.equal(pr.success, true);
    assert.equal(pr.network, 'eip155:84532');
    assert.equal(getAddress(pr.payer), agent.address);
    const amount = BigInt(pr.amount);
    const { credit } = await checkSettled({ payer: agent, requestId: res.headers.get('x-request-id'), amount, cost, before: b });
    assert.equal(BigInt(credit.credit_nusd) - creditBefore, amount * 1000n - cost, 'credit grew by paid - cost');
    timings[stream ? 'v2_stream' : 'v2'] = { paid_atomic: String(amount), cost_nusd: String(cost), credit_nusd: credit.credit_nusd };
  }
});

test('credit: X-Payer lowers the quote; a request fully covered by credit signs amount 0 and moves no tokens', async () => {
  const agent = agents[1]; // has credit from the v2 test
  const c0 = BigInt((await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json()).credit_nusd);
  assert.ok(c0 > 0n);
  const body = chatBody('Short answer.', { max_tokens: 50 });
  const full = await quote(body);
  const hinted = await quote(body, { 'x-payer': agent.address });
  const expect = full.amount * 1000n > c0 ? (full.amount * 1000n - c0 + 999n) / 1000n : 0n;
  assert.ok(hinted.amount < full.amount);
  assert.ok(hinted.amount >= expect - 1n && hinted.amount <= expect + 1n);
  // the official v2 client with the hint header: pays what the hinted quote says
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: agent });
  client.setSpendControls({ allowedAssets: [{ network: 'eip155:84532', asset: token.address, maxAmountPerPayment: '1000000' }] });
  const fetchPay = wrapV2(fetch, client);
  const b = await balances(agent);
  const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json', 'x-payer': agent.address }, body });
  assert.equal(res.status, 200);
  const out = await res.json();
  const cost = costOf(res, out);
  const pr = decodePaymentResponseHeader(res.headers.get('payment-response'));
  assert.equal(BigInt(pr.amount), hinted.amount);
  if (hinted.amount === 0n) {
    assert.equal(res.headers.get('x-gaterouter-x402-settlement'), 'credit');
    assert.equal(await token.balanceOf(agent.address), b.payer, 'no tokens moved');
    const c1 = BigInt((await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json()).credit_nusd);
    assert.equal(c1, c0 - cost, 'credit spent = actual cost');
    // GET /v1/x402/payments?id= finds a request paid from credit (its job was recorded at admission)
    let pay;
    for (let i = 0; i < 100; i++) {
      pay = await (await fetch(`${gw.base}/v1/x402/payments?id=${res.headers.get('x-request-id')}`)).json();
      if (pay.state && pay.state !== 'pending') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(pay.state, 'credit', JSON.stringify(pay));
    assert.equal(pay.amount, '0');
    assert.equal(BigInt(pay.cost_nusd), cost);
  } else {
    const s = await waitSettlement(gw.base, agent.address, res.headers.get('x-request-id'));
    assert.equal(s.settlement.state, 'settled');
    assert.equal(BigInt(s.credit.credit_nusd), c0 + hinted.amount * 1000n - cost);
  }
  // someone else cannot spend that credit: a hint naming agent, signed by another wallet, pays the full price
  const other = agents[2];
  const q = await quote(body, { 'x-payer': agent.address });
  const { authorization, signature } = await signAuth(other, { token: token.address, to: payTo.address, value: q.amount });
  const r = await post(body, { 'x-payment': v1Header({ authorization, signature }) });
  assert.equal(r.status, 402);
  assert.equal((await r.json()).error, 'invalid_exact_evm_payload_authorization_value');
});

test('rejections: each with a machine-readable error code', async () => {
  const agent = agents[2];
  const body = chatBody('reject me', { max_tokens: 64 });
  const { amount, v2 } = await quote(body);
  const now = Math.floor(Date.now() / 1000);
  const ok = { token: token.address, to: payTo.address, value: amount };
  const cases = [];
  cases.push(['bad base64', { 'x-payment': '!!!not-base64!!!' }, 'invalid_payload']);
  cases.push(['bad JSON', { 'x-payment': toB64('{"x402Version":1,') }, 'invalid_payload']);
  cases.push(['wrong x402Version', { 'x-payment': toB64({ x402Version: 7, scheme: 'exact', network: 'base-sepolia', payload: {} }) }, 'invalid_x402_version']);
  let p = await signAuth(agent, ok);
  cases.push(['wrong scheme', { 'x-payment': toB64({ x402Version: 1, scheme: 'upto', network: 'base-sepolia', payload: p }) }, 'unsupported_scheme']);
  cases.push(['wrong network', { 'x-payment': v1Header(p, 'base') }, 'invalid_network']);
  cases.push(['wrong payTo', { 'x-payment': v1Header(await signAuth(agent, { ...ok, to: deployer.address })) }, 'invalid_exact_evm_payload_recipient_mismatch']);
  cases.push(['underpayment', { 'x-payment': v1Header(await signAuth(agent, { ...ok, value: amount - 1n })) }, 'invalid_exact_evm_payload_authorization_value']);
  cases.push(['expired', { 'x-payment': v1Header(await signAuth(agent, { ...ok, validBefore: now - 1 })) }, 'invalid_exact_evm_payload_authorization_valid_before']);
  cases.push(['not yet valid', { 'x-payment': v1Header(await signAuth(agent, { ...ok, validAfter: now + 600 })) }, 'invalid_exact_evm_payload_authorization_valid_after']);
  const forged = { ...p, signature: `0x${'11'.repeat(64)}1b` };
  cases.push(['forged signature', { 'x-payment': v1Header(forged) }, 'invalid_exact_evm_payload_signature']);
  const stranger = privateKeyToAccount(generatePrivateKey());
  const bySomeoneElse = await signAuth(stranger, ok);
  bySomeoneElse.authorization.from = agent.address; // claims to be agent
  cases.push(['signed by another key', { 'x-payment': v1Header(bySomeoneElse) }, 'invalid_exact_evm_payload_signature']);
  const n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141n;
  const sig = p.signature.slice(2);
  const s = BigInt(`0x${sig.slice(64, 128)}`);
  const v = parseInt(sig.slice(128, 130), 16);
  const highS = `0x${sig.slice(0, 64)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`;
  cases.push(['high-s (malleable) signature', { 'x-payment': v1Header({ ...p, signature: highS }) }, 'invalid_exact_evm_payload_signature']);
  // v2: value must equal the accepted amount; the asset must be one we offered
  const acc = v2.accepts[0];
  const p2 = await signAuth(agent, { ...ok, value: amount + 1n });
  cases.push(['v2 value != accepted amount', { 'payment-signature': v2Header(p2, { ...acc, amount: String(amount) }, v2.resource) }, 'invalid_exact_evm_authorization_value']);
  const p3 = await signAuth(agent, ok);
  cases.push(['v2 unknown asset', { 'payment-signature': v2Header(p3, { ...acc, asset: deployer.address }, v2.resource) }, 'invalid_payment_requirements']);
  cases.push(['v2 underpaid accepted amount', { 'payment-signature': v2Header(await signAuth(agent, { ...ok, value: 1n }), { ...acc, amount: '1' }, v2.resource) }, 'invalid_exact_evm_authorization_value']);
  for (const [name, headers, code] of cases) {
    const r = await post(body, headers);
    assert.equal(r.status, 402, name);
    const j = await r.json();
    assert.equal(j.error, code, name);
    assert.ok(Array.isArray(j.accepts) && j.accepts.length === 1, name);
    assert.ok(r.headers.get('payment-required'), name);
    const xr = r.headers.get('x-payment-response') || r.headers.get('payment-response');
    if (xr) assert.equal(b64json(xr).success, false, name);
  }
  // nothing was charged for any of them
  assert.equal(await token.balanceOf(agent.address), 10_000_000n);
});

test('replay: a payment is served once; 50 concurrent replays of a fresh one -> exactly one 200', async () => {
  const agent = agents[3];
  const body = chatBody('once', { max_tokens: 32 });
  const { amount } = await quote(body);
  const h = { 'x-payment': v1Header(await signAuth(agent, { token: token.address, to: payTo.address, value: amount })) };
  const first = await post(body, h);
  assert.equal(first.status, 200);
  await first.text();
  const again = await post(body, h);
  assert.equal(again.status, 402);
  assert.equal((await again.json()).error, 'duplicate_settlement');
  const fresh = { 'x-payment': v1Header(await signAuth(agent, { token: token.address, to: payTo.address, value: amount })) };
  const t0 = Date.now();
  const rs = await Promise.all(Array.from({ length: 50 }, () => post(body, fresh).then(async (r) => ({ s: r.status, b: await r.text() }))));
  timings.replay50_ms = Date.now() - t0;
  const okN = rs.filter((x) => x.s === 200).length;
  assert.equal(okN, 1, `statuses: ${rs.map((x) => x.s).join(',')}`);
  assert.equal(rs.filter((x) => x.s === 402 && JSON.parse(x.b).error === 'duplicate_settlement').length, 49);
  // both accepted payments settle; the payer paid exactly twice
  const s1 = await waitSettlement(gw.base, agent.address, first.headers.get('x-request-id'));
  assert.equal(s1.settlement.state, 'settled');
  const deadline = Date.now() + 20000;
  for (;;) {
    const j = await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json();
    if (j.settlements.length === 2 && j.settlements.every((x) => x.state === 'settled')) break;
    if (Date.now() > deadline) throw new Error(JSON.stringify(j));
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(10_000_000n - await token.balanceOf(agent.address), 2n * amount);
  // metrics count the events
  const m = await (await fetch(`${gw.base}/metrics`)).text();
  for (const e of ['verified', 'rejected', 'settled', 'required']) assert.match(m, new RegExp(`gaterouter_x402_payments_total\\{event="${e}"\\} [1-9]`));
});

test('a payer with no tokens is refused before serving (preflight): nothing served, nothing reserved', async () => {
  // (the settlement failure of such a payer, with the preflight off: preflight.test.mjs)
  const broke = privateKeyToAccount(generatePrivateKey()); // valid signature, zero balance
  const body = chatBody('I cannot pay', { max_tokens: 16 });
  const { amount } = await quote(body);
  const signed = await signAuth(broke, { token: token.address, to: payTo.address, value: amount });
  const r = await post(body, { 'x-payment': v1Header(signed) });
  assert.equal(r.status, 402);
  assert.equal((await r.json()).error, 'insufficient_funds');
  const pr = decodeXPaymentResponse(r.headers.get('x-payment-response'));
  assert.equal(pr.success, false);
  assert.equal(pr.errorReason, 'insufficient_funds');
  const p = await fetch(`${gw.base}/v1/x402/payments?id=${r.headers.get('x-request-id')}`);
  assert.equal(p.status, 404);
  await p.text();
  assert.equal(await token.authorizationState(broke.address, signed.authorization.nonce), false);
  assert.match(gw.logs(), /refused before serving: insufficient_funds/);
});

test('restart: the replay guard and the credit survive (the store: SQLite or PostgreSQL)', async () => {
  const agent = agents[3];
  const body = chatBody('persist', { max_tokens: 16 });
  const { amount } = await quote(body);
  const h = { 'x-payment': v1Header(await signAuth(agent, { token: token.address, to: payTo.address, value: amount })) };
  const r = await post(body, h);
  assert.equal(r.status, 200);
  await r.text();
  await waitSettlement(gw.base, agent.address, r.headers.get('x-request-id'));
  const creditBefore = (await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json()).credit_nusd;
  const dir = gw.dir;
  await gw.stop();
  assertCleanLogs(gw.logs());
  gw = await startGateway({ config: gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
    relayerKey: accountKey(2), storeDir: dir }) });
  const again = await post(body, h);
  assert.equal(again.status, 402);
  assert.equal((await again.json()).error, 'duplicate_settlement');
  const c = await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json();
  assert.equal(c.credit_nusd, creditBefore);
  assert.ok(c.settlements.length >= 3);
});
