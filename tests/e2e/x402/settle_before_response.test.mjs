// settle_before_response.test.mjs — x402.settle_before_response: a
// non-streamed paid reply waits for its settlement transaction and carries
// the hash in the settlement header (X-PAYMENT-RESPONSE / PAYMENT-RESPONSE),
// with self-settlement (the hash is known once the transaction is signed and
// persisted, before the broadcast) and through a facilitator (/settle
// answered). Streams are not held (their headers precede the generation).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { decodeXPaymentResponse } from 'x402-fetch';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, signAuth, v1Header,
  assertCleanLogs,
} from './lib.mjs';
import { startFacilitator } from './facilitator.mjs';

let chain, token, fac, self, viaFac;
const deployer = account(0), payTo = account(1), relayer = account(2), facSigner = account(7);
const agent = account(8);
const mode = '  settle_before_response: true\n';

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  await token.mint(agent.address, 5_000_000n);
  fac = await startFacilitator({ chain, signer: facSigner, abi: token.abi });
  const withMode = (base) => (port, dir) => base(port, dir).replace('x402:\n', `x402:\n${mode}`);
  self = await startGateway({ config: withMode(gatewayConfig({ token: token.address, payTo: payTo.address,
    rpcUrl: chain.url, relayerKey: accountKey(2) })) });
  viaFac = await startGateway({ config: withMode(gatewayConfig({ token: token.address, payTo: payTo.address,
    settle: 'facilitator', facilitatorUrl: fac.url })) });
});

after(async () => {
  for (const gw of [self, viaFac]) if (gw) await gw.stop();
  if (fac) await fac.stop();
  if (chain) await chain.stop();
  for (const gw of [self, viaFac]) if (gw) assertCleanLogs(gw.logs());
});

async function paid(gw, body) {
  const q = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(q.status, 402);
  const amount = BigInt((await q.json()).accepts[0].maxAmountRequired);
  const signed = await signAuth(agent, { token: token.address, to: payTo.address, value: amount });
  return fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-payment': v1Header(signed) }, body });
}

async function finalPayment(gw, id) {
  for (let i = 0; i < 200; i++) {
    const p = await (await fetch(`${gw.base}/v1/x402/payments?id=${id}`)).json();
    if (p.state !== 'pending') return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`payment ${id} still pending`);
}

for (const [name, gw, from] of [['self-settlement', () => self, () => relayer.address],
  ['a facilitator', () => viaFac, () => facSigner.address]]) {
  test(`${name}: the settlement header carries the transaction hash`, async () => {
    const t0 = Date.now();
    const r = await paid(gw(), chatBody('hash please', { max_tokens: 16 }));
    assert.equal(r.status, 200);
    console.log(`# settle_before_response, ${name}: paid reply in ${Date.now() - t0} ms (402 + sign + paid request)`);
    await r.json();
    const pr = decodeXPaymentResponse(r.headers.get('x-payment-response'));
    assert.equal(pr.success, true);
    assert.match(pr.transaction, /^0x[0-9a-f]{64}$/, 'the hash is in the header');
    assert.ok(['sent', 'settled'].includes(r.headers.get('x-gaterouter-x402-settlement')));
    const p = await finalPayment(gw(), r.headers.get('x-request-id'));
    assert.equal(p.state, 'settled');
    assert.equal(p.transaction.toLowerCase(), pr.transaction.toLowerCase(), 'the same transaction');
    const rc = await chain.publicClient.getTransactionReceipt({ hash: pr.transaction });
    assert.equal(rc.status, 'success');
    assert.equal(rc.from.toLowerCase(), from().toLowerCase());
  });
}

test('a stream is not held: its header says pending', async () => {
  const r = await paid(self, chatBody('stream', { max_tokens: 16, stream: true }));
  assert.equal(r.status, 200);
  await r.text();
  assert.equal(decodeXPaymentResponse(r.headers.get('x-payment-response')).transaction, '');
  assert.equal(r.headers.get('x-gaterouter-x402-settlement'), 'pending');
});
