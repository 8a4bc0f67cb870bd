// preflight.test.mjs — the payer preflight (src/x402/x402_preflight.c): before a
// paid request is served, the chain is asked whether the payer can pay.
// Unfunded payers and cancelled authorizations are refused before serving
// (402, nothing served, no job, no tokens moved); a payer whose settlement
// failed (preflight off) is refused until it can pay. Also measures the
// latency the preflight adds to a paid request (printed as
// "# preflight latency" for docs/X402.md and docs/BENCHMARKS.md), also
// behind a JSON-RPC proxy that answers 20 ms late, as a hosted node would.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, signAuth, v1Header,
  randomNonce, generatePrivateKey, privateKeyToAccount, TOKEN_NAME, TOKEN_VERSION, CHAIN_ID, assertCleanLogs,
} from './lib.mjs';

let chain, token, on, off, slowOn, slowOff, slowRpc;
const RPC_DELAY_MS = 20; // a hosted node's round trip, for the latency figure
const deployer = account(0), payTo = account(1);

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  slowRpc = await delayedRpc(chain.url, RPC_DELAY_MS);
  const cfg = (extra, rpcUrl = chain.url) => {
    const base = gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl, relayerKey: accountKey(2) });
    return (port, dir) => base(port, dir).replace('x402:\n', `x402:\n${extra}`);
  };
  on = await startGateway({ config: cfg('') }); // preflight on by default
  off = await startGateway({ config: cfg('  preflight: { enabled: false }\n') });
  slowOn = await startGateway({ config: cfg('', slowRpc.url) });
  slowOff = await startGateway({ config: cfg('  preflight: { enabled: false }\n', slowRpc.url) });
});

after(async () => {
  for (const gw of [on, off, slowOn, slowOff]) if (gw) await gw.stop();
  if (slowRpc) slowRpc.close();
  if (chain) await chain.stop();
  for (const gw of [on, off, slowOn, slowOff]) if (gw) assertCleanLogs(gw.logs());
});

// A JSON-RPC proxy answering each HTTP request `ms` later than anvil.
function delayedRpc(target, ms) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      await new Promise((r) => setTimeout(r, ms));
      try {
        const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text());
      } catch { res.destroy(); }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`, close() { server.close(); } })));
}

const body = chatBody('Can you pay?', { max_tokens: 16 });

async function quote(gw) {
  const q = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(q.status, 402);
  return BigInt((await q.json()).accepts[0].maxAmountRequired);
}

const paidPost = (gw, header) => fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
  headers: { 'content-type': 'application/json', 'x-payment': header }, body });

async function fundedPayer(amount = 1_000_000n) {
  const a = privateKeyToAccount(generatePrivateKey());
  if (amount) await token.mint(a.address, amount);
  return a;
}

async function refused(gw, res, code) {
  assert.equal(res.status, 402);
  const j = await res.json();
  assert.equal(j.error, code);
  const id = res.headers.get('x-request-id');
  const p = await fetch(`${gw.base}/v1/x402/payments?id=${id}`);
  assert.equal(p.status, 404, 'no payment job for a refused request');
  await p.text();
}

test('an unfunded payer is refused before serving: nothing served, nothing reserved', async () => {
  const amount = await quote(on);
  const broke = await fundedPayer(0n);
  const signed = await signAuth(broke, { token: token.address, to: payTo.address, value: amount });
  await refused(on, await paidPost(on, v1Header(signed)), 'insufficient_funds');
  // a payer with some tokens, but fewer than the value
  const poor = await fundedPayer(amount - 1n);
  const s2 = await signAuth(poor, { token: token.address, to: payTo.address, value: amount });
  await refused(on, await paidPost(on, v1Header(s2)), 'insufficient_funds');
  // once funded (the cache holds balances briefly: a fresh payer), the same kind of payment is served
  const rich = await fundedPayer();
  const s3 = await signAuth(rich, { token: token.address, to: payTo.address, value: amount });
  const ok = await paidPost(on, v1Header(s3));
  assert.equal(ok.status, 200);
  await ok.text();
  const m = await (await fetch(`${on.base}/metrics`)).text();
  assert.match(m, /gaterouter_x402_payments_total\{event="rejected"\} [2-9]/);
});

test('an authorization cancelled on chain is refused before serving', async () => {
  const amount = await quote(on);
  const payer = await fundedPayer();
  const nonce = randomNonce();
  const signed = await signAuth(payer, { token: token.address, to: payTo.address, value: amount, nonce });
  const sig = await payer.signTypedData({
    domain: { name: TOKEN_NAME, version: TOKEN_VERSION, chainId: CHAIN_ID, verifyingContract: token.address },
    types: { CancelAuthorization: [{ name: 'authorizer', type: 'address' }, { name: 'nonce', type: 'bytes32' }] },
    primaryType: 'CancelAuthorization', message: { authorizer: payer.address, nonce },
  });
  const r = `0x${sig.slice(2, 66)}`, s = `0x${sig.slice(66, 130)}`, v = parseInt(sig.slice(130, 132), 16);
  const h = await chain.wallet(deployer).writeContract({ address: token.address, abi: token.abi,
    functionName: 'cancelAuthorization', args: [payer.address, nonce, v, r, s] });
  await chain.publicClient.waitForTransactionReceipt({ hash: h });
  assert.equal(await token.authorizationState(payer.address, nonce), true);
  await refused(on, await paidPost(on, v1Header(signed)), 'duplicate_settlement'); // v1's code for a used nonce
  assert.equal(await token.balanceOf(payer.address), 1_000_000n, 'nothing moved');
});

test('preflight off: a payer whose settlement failed is refused until it can pay', async () => {
  const amount = await quote(off);
  const broke = await fundedPayer(0n);
  const first = await paidPost(off, v1Header(await signAuth(broke, { token: token.address, to: payTo.address, value: amount })));
  assert.equal(first.status, 200, 'preflight off: served, settlement fails after');
  await first.text();
  const id = first.headers.get('x-request-id');
  let state;
  for (let i = 0; i < 200; i++) {
    state = (await (await fetch(`${off.base}/v1/x402/payments?id=${id}`)).json()).state;
    if (state !== 'pending') break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(state, 'failed');
  await refused(off, await paidPost(off, v1Header(await signAuth(broke, { token: token.address, to: payTo.address, value: amount }))),
    'insufficient_funds');
  await token.mint(broke.address, 1_000_000n); // it can pay now
  const again = await paidPost(off, v1Header(await signAuth(broke, { token: token.address, to: payTo.address, value: amount })));
  assert.equal(again.status, 200);
  await again.text();
});

test('the latency the preflight adds to a paid request (anvil on localhost, and behind a 20 ms RPC)', async () => {
  const N = 25;
  const stats = {};
  for (const [name, gw] of [['off', off], ['on', on], ['off_rpc20ms', slowOff], ['on_rpc20ms', slowOn]]) {
    const amount = await quote(gw);
    const headers = [];
    for (let i = 0; i < N; i++) {
      const payer = await fundedPayer(); // a fresh payer each time: no cached balance
      headers.push(v1Header(await signAuth(payer, { token: token.address, to: payTo.address, value: amount })));
    }
    const ms = [];
    for (const h of headers) {
      const t = process.hrtime.bigint();
      const r = await paidPost(gw, h);
      await r.text();
      assert.equal(r.status, 200);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    ms.sort((a, b) => a - b);
    stats[name] = { p50_ms: +ms[Math.floor(N / 2)].toFixed(2), p90_ms: +ms[Math.floor(N * 0.9)].toFixed(2) };
  }
  console.log(`# preflight latency (paid request, ${N} each, fresh payers): ${JSON.stringify(stats)}`);
  assert.ok(stats.on.p50_ms > 0 && stats.off.p50_ms > 0);
  // behind a 20 ms node: one batched round trip (authorizationState + balanceOf) before serving
  assert.ok(stats.on_rpc20ms.p50_ms - stats.off_rpc20ms.p50_ms >= RPC_DELAY_MS * 0.8, JSON.stringify(stats));
});
