// upto.test.mjs — the x402 `upto` scheme end to end on a local chain: the
// official v2 client (@x402/fetch + UptoEvmScheme from @x402/evm/upto/client)
// authorises a MAXIMUM with a Permit2 PermitWitnessTransferFrom signature
// (x402 witness {to, facilitator, validAfter}, spender = x402UptoPermit2Proxy);
// GateRouter verifies it locally in C, serves, meters, and settles EXACTLY the
// metered cost (rounded up to an atomic unit, never above the maximum) by
// calling the proxy's settle() with its relayer key. Short, long, streamed and
// client-aborted answers; rejections with their codes; zero cost moves nothing.
//
// Contracts: GateRouter's own minimal stand-ins, contracts/TestPermit2.sol
// (Permit2's signature-transfer path) and contracts/TestUptoProxy.sol (the
// x402 upto proxy's settle()), compiled with npm solc, deployed on anvil and
// copied to the canonical addresses (anvil_setCode), because the official
// client signs for those addresses. TestPermit2 builds its EIP-712 domain from
// block.chainid and address(this) on every call, so the copied code has the
// canonical domain for eip155:84532 (checked below against viem).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import { getAddress, maxUint256 } from 'viem';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, b64json,
  assertCleanLogs, ledgerRow, usdToNusd, CHAIN_ID, TOKEN_NAME,
} from './lib.mjs';
import {
  PERMIT2, UPTO_PROXY, proxyAbi, permit2Abi, settleAbi, deployUptoContracts, signUpto,
} from './upto_lib.mjs';

let chain, token, gw;
const deployer = account(0), payTo = account(1), relayer = account(2);
const agents = [account(3), account(4), account(5), account(6)];
const timings = {};
const figures = {};

before(async () => {
  let t = Date.now();
  chain = await startAnvil();
  timings.anvil_ms = Date.now() - t;
  t = Date.now();
  token = await deployToken(chain, deployer);
  await deployUptoContracts(chain, deployer);
  timings.compile_deploy_ms = Date.now() - t;
  // One-time Permit2 approval per agent (Phase 1, option A of the spec).
  for (const a of agents) {
    await token.mint(a.address, 10_000_000n); // 10 USDC each
    const w = chain.wallet(a);
    const h = await w.writeContract({ address: token.address, abi: token.abi, functionName: 'approve', args: [PERMIT2, maxUint256] });
    await chain.publicClient.waitForTransactionReceipt({ hash: h });
  }
  const extra = `      permit2: "${PERMIT2}"\n      upto_proxy: "${UPTO_PROXY}"\n`;
  gw = await startGateway({ config: gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
    relayerKey: accountKey(2), extra }) });
});

after(async () => {
  if (gw) { await gw.stop(); assertCleanLogs(gw.logs()); }
  if (chain) await chain.stop();
  console.log(`# upto e2e timings: ${JSON.stringify(timings)}`);
  console.log(`# upto e2e figures: ${JSON.stringify(figures)}`);
});

const chatURL = () => `${gw.base}/v1/chat/completions`;
const post = (body, headers = {}, signal) => fetch(chatURL(), { method: 'POST',
  headers: { 'content-type': 'application/json', ...headers }, body, signal });
const balances = async (payer) => ({ payer: await token.balanceOf(payer.address), payTo: await token.balanceOf(payTo.address) });

async function quote(body) {
  const r = await post(body);
  assert.equal(r.status, 402);
  await r.text();
  const pr = b64json(r.headers.get('payment-required'));
  const upto = pr.accepts.find((a) => a.scheme === 'upto');
  return { pr, upto, exact: pr.accepts.find((a) => a.scheme === 'exact') };
}

// Polls GET /v1/x402/payments?id= until the payment has left "pending".
async function waitPayment(id, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${gw.base}/v1/x402/payments?id=${id}`);
    if (r.status === 200) {
      const j = await r.json();
      if (j.state !== 'pending') return j;
    } else {
      assert.equal(r.status, 404);
      await r.text();
    }
    if (Date.now() > deadline) throw new Error(`payment ${id} still pending`);
    await new Promise((res) => setTimeout(res, 40));
  }
}

// The ledger writer commits rows asynchronously (~50 ms): poll.
async function ledgerRowWait(id, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { return await ledgerRow(gw.base, id); } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function uptoClient(agent) {
  const client = new x402Client();
  client.register(`eip155:${CHAIN_ID}`, new UptoEvmScheme(agent));
  client.setSpendControls({ allowedAssets: [{ network: `eip155:${CHAIN_ID}`, asset: token.address, maxAmountPerPayment: '1000000' }] });
  return wrapFetchWithPayment(fetch, client);
}

const ceilAtomic = (nusd) => (nusd + 999n) / 1000n; // USDC: 1 atomic = 1000 nano-USD

// Checks one settled upto payment: exactly ceil(cost) moved, from the payer
// to payTo, by the relayer through the proxy, never above the maximum.
async function checkSettled({ agent, id, cost, max, before: b }) {
  const pay = await waitPayment(id);
  const expect = ceilAtomic(cost);
  assert.equal(pay.scheme, 'upto');
  assert.equal(pay.state, 'settled', JSON.stringify(pay));
  assert.equal(BigInt(pay.amount), expect, 'settled = metered cost rounded up to an atomic unit');
  assert.equal(BigInt(pay.max_amount), max);
  assert.ok(expect > 0n && expect <= max, 'never above the authorised maximum');
  assert.equal(BigInt(pay.cost_nusd), cost);
  const rc = await chain.publicClient.getTransactionReceipt({ hash: pay.transaction });
  assert.equal(rc.status, 'success');
  assert.equal(getAddress(rc.from), relayer.address);
  assert.equal(getAddress(rc.to), UPTO_PROXY);
  const a = await balances(agent);
  assert.equal(b.payer - a.payer, expect, 'payer balance dropped by exactly the metered cost');
  assert.equal(a.payTo - b.payTo, expect, 'payTo balance rose by exactly the metered cost');
  const row = await ledgerRowWait(id);
  assert.equal(row.x402.amount_atomic, String(expect));
  assert.equal(row.x402.settlement, 'settled');
  assert.equal(row.x402.transaction, pay.transaction);
  assert.equal(BigInt(row.cost_nusd), cost);
  return { pay, row, expect, gasUsed: rc.gasUsed };
}

test('402 offers upto beside exact (v2 header): same maximum, Permit2 extra with the facilitator', async () => {
  const { pr, upto, exact } = await quote(chatBody('hi', { max_tokens: 300 }));
  assert.equal(pr.x402Version, 2);
  assert.deepEqual(pr.accepts.map((a) => a.scheme), ['exact', 'upto'], 'exact stays first for clients without upto');
  assert.equal(upto.network, `eip155:${CHAIN_ID}`);
  assert.equal(upto.amount, exact.amount);
  assert.equal(upto.asset, token.address);
  assert.equal(upto.payTo, payTo.address);
  assert.deepEqual(upto.extra, { name: TOKEN_NAME, version: '2', facilitatorAddress: relayer.address });
  // the v1 body cannot express upto
  const r = await post(chatBody('hi', { max_tokens: 300 }));
  const body = await r.json();
  assert.equal(body.x402Version, 1);
  assert.ok(body.accepts.every((a) => a.scheme === 'exact'));
  const pricing = await (await fetch(`${gw.base}/v1/x402/pricing`)).json();
  assert.deepEqual(pricing.accepts[0].schemes, ['exact', 'upto']);
  assert.equal(pricing.accepts[0].upto.proxy, UPTO_PROXY);
});

test('official v2 client, upto: short and long answers settle exactly the metered cost', async () => {
  const agent = agents[0];
  const fetchPay = uptoClient(agent);
  for (const [label, tokens] of [['short', 8], ['long', 280]]) {
    const body = chatBody(`Answer. [[mock:tokens=${tokens}]]`, { max_tokens: 300 });
    const { upto } = await quote(body);
    const max = BigInt(upto.amount);
    const b = await balances(agent);
    const t0 = Date.now();
    const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200, await res.clone().text());
    const out = await res.json();
    timings[`${label}_paid_request_ms`] = Date.now() - t0;
    const cost = usdToNusd(res.headers.get('x-gaterouter-cost'));
    assert.equal(out.usage.completion_tokens, tokens);
    // non-streamed: the cost is known when the headers go out
    const pr = decodePaymentResponseHeader(res.headers.get('payment-response'));
    assert.equal(pr.success, true);
    assert.equal(getAddress(pr.payer), agent.address);
    assert.equal(BigInt(pr.amount), ceilAtomic(cost));
    assert.equal(res.headers.get('x-gaterouter-x402-scheme'), 'upto');
    assert.equal(BigInt(res.headers.get('x-gaterouter-x402-max-amount')), max);
    const t1 = Date.now();
    const { expect, gasUsed } = await checkSettled({ agent, id: res.headers.get('x-request-id'), cost, max, before: b });
    timings[`${label}_settled_after_ms`] = Date.now() - t1;
    figures[label] = { completion_tokens: tokens, max_atomic: String(max), settled_atomic: String(expect),
      cost_nusd: String(cost), exact_would_pay_atomic: String(max), gas_used: String(gasUsed) };
  }
  // no credit in upto: the settled amount already is the cost
  const c = await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json();
  assert.equal(c.credit_nusd, 0);
  assert.ok(c.settlements.every((s) => s.scheme === 'upto' && BigInt(s.amount) <= BigInt(s.max_amount)));
});

test('official v2 client, upto: a streamed answer settles the cost computed at the end of the stream', async () => {
  const agent = agents[1];
  const fetchPay = uptoClient(agent);
  const body = chatBody('Stream a story. [[mock:tokens=120]]', { max_tokens: 400, stream: true, stream_options: { include_usage: true } });
  const { upto } = await quote(body);
  const max = BigInt(upto.amount);
  const b = await balances(agent);
  const t0 = Date.now();
  const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200);
  const text = await res.text();
  timings.stream_paid_request_ms = Date.now() - t0;
  assert.match(text, /data: \[DONE\]/);
  const last = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).filter((c) => c.usage).pop();
  const cost = usdToNusd(String(last.usage.cost));
  // the headers precede the generation: amount pending, final amount via /v1/x402/payments
  const pr = decodePaymentResponseHeader(res.headers.get('payment-response'));
  assert.equal(pr.success, true);
  assert.equal(pr.amount, undefined);
  assert.equal(res.headers.get('x-gaterouter-x402-settlement'), 'pending');
  const { expect } = await checkSettled({ agent, id: res.headers.get('x-request-id'), cost, max, before: b });
  figures.stream = { completion_tokens: last.usage.completion_tokens, max_atomic: String(max), settled_atomic: String(expect), cost_nusd: String(cost) };
});

test('official v2 client, upto: an aborted stream settles only what was generated', async () => {
  const agent = agents[2];
  const fetchPay = uptoClient(agent);
  const body = chatBody('A long story. [[mock:tokens=400]] [[mock:tps=200]]', { max_tokens: 500, stream: true });
  const { upto } = await quote(body);
  const max = BigInt(upto.amount);
  const b = await balances(agent);
  const ac = new AbortController();
  const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: ac.signal });
  assert.equal(res.status, 200);
  const id = res.headers.get('x-request-id');
  const reader = res.body.getReader();
  let got = 0;
  while (got < 2000) { // a few dozen tokens, then hang up
    const { value, done } = await reader.read();
    if (done) break;
    got += value.length;
  }
  ac.abort();
  await reader.cancel().catch(() => {});
  const pay = await waitPayment(id);
  const row = await ledgerRowWait(id);
  assert.equal(row.status, 499, 'the gateway saw the client go');
  assert.ok(row.tokens_completion > 0 && row.tokens_completion < 400, `partial generation: ${row.tokens_completion}`);
  const cost = BigInt(row.cost_nusd);
  assert.ok(cost > 0n);
  await checkSettled({ agent, id, cost, max, before: b });
  figures.aborted = { completion_tokens_generated: row.tokens_completion, of: 400, max_atomic: String(max),
    settled_atomic: pay.amount, cost_nusd: String(cost) };
});

test('upto: a request that produced nothing settles nothing (no transaction)', async () => {
  const agent = agents[3];
  const id = `upto-zero-${Date.now()}`; // the gateway keeps a client-chosen request id
  const body = chatBody('Slow start. [[mock:delay_ms=3000]]', { max_tokens: 100, stream: true });
  const { upto } = await quote(body);
  const { header } = await signUpto(agent, upto); // one request (hand-signed), so the id is its own
  const b = await balances(agent);
  const ac = new AbortController();
  const p = post(body, { 'payment-signature': header, 'x-request-id': id }, ac.signal).then((res) => res.text()).catch(() => {});
  await new Promise((r) => setTimeout(r, 500)); // admitted, waiting for the first token: hang up
  ac.abort();
  await p;
  const pay = await waitPayment(id);
  assert.equal(pay.scheme, 'upto');
  assert.equal(pay.amount, '0');
  assert.equal(pay.transaction, '');
  assert.ok(['skipped', 'zero'].includes(pay.state), pay.state);
  const row = await ledgerRowWait(id);
  assert.equal(row.x402.amount_atomic, '0');
  assert.deepEqual(await balances(agent), b, 'no tokens moved');
  const c = await (await fetch(`${gw.base}/v1/x402/credit?address=${agent.address}`)).json();
  assert.equal(c.settlements.length, 0, 'no settlement job, no transaction');
  figures.zero = { state: pay.state, settled_atomic: pay.amount, max_atomic: pay.max_amount };
});

// ---- rejections, signed by hand with viem exactly as the spec describes ----

test('upto rejections: each with the reference facilitator code, nothing served or moved', async () => {
  const agent = agents[3];
  const body = chatBody('reject me', { max_tokens: 64 });
  const { upto } = await quote(body);
  const now = Math.floor(Date.now() / 1000);
  const stranger = account(9);
  const cases = [
    ['over the deadline', { deadline: now - 10 }, 'permit2_deadline_expired'],
    ['deadline inside the 6 s margin', { deadline: now + 3 }, 'permit2_deadline_expired'],
    ['not yet valid', { validAfter: now + 120 }, 'permit2_not_yet_valid'],
    ['wrong spender', { spender: stranger.address }, 'invalid_permit2_spender'],
    ['wrong witness.to', { to: stranger.address }, 'invalid_permit2_recipient_mismatch'],
    ['wrong facilitator', { facilitator: stranger.address }, 'upto_facilitator_mismatch'],
    ['maximum below the quote', { amount: BigInt(upto.amount) - 1n }, 'permit2_amount_mismatch'],
    ['other token', { token: stranger.address }, 'permit2_token_mismatch'],
    ['signed by someone else', { key: stranger }, 'invalid_permit2_signature'],
  ];
  const b = await balances(agent);
  for (const [label, over, code] of cases) {
    const { header } = await signUpto(agent, upto, over);
    const r = await post(body, { 'payment-signature': header });
    assert.equal(r.status, 402, label);
    const j = await r.json();
    assert.equal(j.error, code, label);
    const pr = b64json(r.headers.get('payment-response'));
    assert.equal(pr.success, false, label);
    assert.equal(pr.errorReason, code, label);
    assert.ok(b64json(r.headers.get('payment-required')).accepts.some((a) => a.scheme === 'upto'), label);
  }
  // replay: the first use is served, the second rejected before serving
  const { header } = await signUpto(agent, upto);
  const r1 = await post(body, { 'payment-signature': header });
  assert.equal(r1.status, 200);
  await r1.text();
  const r2 = await post(body, { 'payment-signature': header });
  assert.equal(r2.status, 402);
  assert.equal((await r2.json()).error, 'permit2_invalid_nonce');
  const pay = await waitPayment(r1.headers.get('x-request-id'));
  assert.equal(pay.state, 'settled');
  const a = await balances(agent);
  assert.equal(b.payer - a.payer, BigInt(pay.amount), 'only the one served request was paid');
});

test('upto preflight: a payer without a Permit2 allowance, or without the maximum, is refused before serving', async () => {
  const body = chatBody('can I?', { max_tokens: 64 });
  const { upto } = await quote(body);
  const unapproved = account(7), unfunded = account(8);
  await token.mint(unapproved.address, 10_000_000n); // tokens, but no approve(Permit2)
  const w = chain.wallet(unfunded); // approve(Permit2), but no tokens
  await chain.publicClient.waitForTransactionReceipt({ hash: await w.writeContract({ address: token.address,
    abi: token.abi, functionName: 'approve', args: [PERMIT2, maxUint256] }) });
  for (const [who, code] of [[unapproved, 'permit2_allowance_required'], [unfunded, 'permit2_insufficient_balance']]) {
    const { header } = await signUpto(who, upto);
    const r = await post(body, { 'payment-signature': header });
    // no allowance: 412 Precondition Failed (exact scheme spec, reference x402HTTPResourceServer)
    assert.equal(r.status, code === 'permit2_allowance_required' ? 412 : 402, code);
    assert.equal((await r.json()).error, code);
    assert.equal(b64json(r.headers.get('payment-response')).errorReason, code);
    const p = await fetch(`${gw.base}/v1/x402/payments?id=${r.headers.get('x-request-id')}`);
    assert.equal(p.status, 404, 'nothing admitted');
    await p.text();
  }
  assert.equal(await token.balanceOf(unapproved.address), 10_000_000n);
});

test('settlement above the maximum is impossible: the gateway cannot build it, the proxy reverts it', async () => {
  // The gateway's only way to settle (gr_x402_upto_settle_calldata) refuses
  // amount > permitted.amount (unit test test_x402_upto); the amount it asks
  // for is clamped to the maximum. On chain the proxy enforces it too:
  const agent = agents[3];
  const { upto } = await quote(chatBody('x', { max_tokens: 10 }));
  const { auth, signature } = await signUpto(agent, upto);
  const args = [{ permitted: { token: auth.permitted.token, amount: BigInt(auth.permitted.amount) }, nonce: BigInt(auth.nonce),
    deadline: BigInt(auth.deadline) }, BigInt(auth.permitted.amount) + 1n, agent.address,
  { to: auth.witness.to, facilitator: auth.witness.facilitator, validAfter: 0n }, signature];
  await assert.rejects(chain.publicClient.simulateContract({ account: relayer, address: UPTO_PROXY, abi: proxyAbi,
    functionName: 'settle', args }), /AmountExceedsPermitted/);
  // and exactly the maximum is accepted (simulation only; nothing sent)
  args[1] = BigInt(auth.permitted.amount);
  await chain.publicClient.simulateContract({ account: relayer, address: UPTO_PROXY, abi: proxyAbi, functionName: 'settle', args });
});

test('the stand-in contracts enforce on chain what the gateway checks locally', async () => {
  // Hand-signed authorisations naming the deployer as facilitator, settled by
  // the deployer: the gateway's relayer (and its nonce) is not involved.
  const agent = agents[3];
  const { upto } = await quote(chatBody('x', { max_tokens: 10 }));
  const fac = { ...upto, extra: { ...upto.extra, facilitatorAddress: deployer.address } };
  const argsOf = ({ auth, signature }, amount = 1n, sig = signature) => [{ permitted: { token: auth.permitted.token,
    amount: BigInt(auth.permitted.amount) }, nonce: BigInt(auth.nonce), deadline: BigInt(auth.deadline) }, amount,
  agent.address, { to: auth.witness.to, facilitator: auth.witness.facilitator, validAfter: BigInt(auth.witness.validAfter) }, sig];
  const sim = (args, from = deployer) => chain.publicClient.simulateContract({ account: from, address: UPTO_PROXY,
    abi: settleAbi, functionName: 'settle', args });
  const now = Math.floor(Date.now() / 1000);
  const good = await signUpto(agent, fac);
  await sim(argsOf(good));
  await assert.rejects(sim(argsOf(good), relayer), /UnauthorizedFacilitator/);
  await assert.rejects(sim(argsOf(good, 0n)), /InvalidAmount\(\)/, 'zero is never settled on chain');
  await assert.rejects(sim(argsOf(await signUpto(agent, fac, { deadline: now - 60 }))), /SignatureExpired/);
  await assert.rejects(sim(argsOf(await signUpto(agent, fac, { validAfter: now + 3600 }))), /PaymentTooEarly/);
  await assert.rejects(sim(argsOf(await signUpto(agent, fac, { key: account(9) }))), /InvalidSigner/);
  const tampered = argsOf(good);
  tampered[3] = { ...tampered[3], to: account(9).address }; // witness.to other than signed
  await assert.rejects(sim(tampered), /InvalidSigner/);
  // the malleable twin (s -> n - s, v flipped) of a valid signature
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const sig = good.signature.slice(2);
  const highS = `0x${sig.slice(0, 64)}${(n - BigInt(`0x${sig.slice(64, 128)}`)).toString(16).padStart(64, '0')}${
    sig.slice(128) === '1b' ? '1c' : '1b'}`;
  await assert.rejects(sim(argsOf(good, 1n, highS)), /InvalidSignature\(\)/);
  await assert.rejects(sim(argsOf(good, 1n, good.signature.slice(0, 130))), /InvalidSignatureLength/);
  // settle once for real: 1 atomic unit moves to witness.to, the nonce bit is spent, a replay reverts
  const b = await balances(agent);
  const h = await chain.wallet(deployer).writeContract({ address: UPTO_PROXY, abi: settleAbi, functionName: 'settle',
    args: argsOf(good) });
  assert.equal((await chain.publicClient.waitForTransactionReceipt({ hash: h })).status, 'success');
  const a = await balances(agent);
  assert.equal(b.payer - a.payer, 1n);
  assert.equal(a.payTo - b.payTo, 1n);
  const nonce = BigInt(good.auth.nonce);
  const word = await chain.publicClient.readContract({ address: PERMIT2, abi: permit2Abi, functionName: 'nonceBitmap',
    args: [agent.address, nonce >> 8n] });
  assert.equal((word >> (nonce & 0xffn)) & 1n, 1n, 'nonce bit spent');
  await assert.rejects(sim(argsOf(good)), /InvalidNonce/);
});

test('upto + payment-identifier: a retry with the same id gets the stored reply and settles nothing more', async () => {
  const agent = agents[3];
  const id = `pay_${crypto.randomUUID().replaceAll('-', '')}`;
  const client = new x402Client();
  client.register(`eip155:${CHAIN_ID}`, new UptoEvmScheme(agent));
  client.setSpendControls({ allowedAssets: [{ network: `eip155:${CHAIN_ID}`, asset: token.address, maxAmountPerPayment: '1000000' }] });
  client.onBeforePaymentCreation(async ({ paymentRequired }) => {
    paymentRequired.extensions['payment-identifier'].info.id = id;
  });
  const fetchPay = wrapFetchWithPayment(fetch, client);
  const body = chatBody('metered once', { max_tokens: 64 });
  const b = await balances(agent);
  const first = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-gaterouter-x402-scheme'), 'upto');
  const text = await first.text();
  const pay = await waitPayment(first.headers.get('x-request-id'));
  assert.equal(pay.state, 'settled');
  const paid = b.payer - (await balances(agent)).payer;
  assert.equal(paid, BigInt(pay.amount));
  const again = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(again.status, 200);
  assert.equal(await again.text(), text);
  assert.equal(again.headers.get('x-gaterouter-x402-replay'), first.headers.get('x-request-id'));
  const p2 = await fetch(`${gw.base}/v1/x402/payments?id=${again.headers.get('x-request-id')}`);
  assert.equal(p2.status, 404, 'the retry has no payment of its own');
  await p2.text();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(b.payer - (await balances(agent)).payer, paid, 'the payer paid once');
});
