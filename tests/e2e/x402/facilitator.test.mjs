// facilitator.test.mjs — x402 end to end with settlement through a
// facilitator (settle: facilitator): the gateway verifies locally, serves,
// then POSTs {x402Version, paymentPayload, paymentRequirements} to the local
// facilitator stand-in's /settle, which settles on anvil. Both official
// client generations.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { wrapFetchWithPayment as wrapV1 } from 'x402-fetch';
import { wrapFetchWithPayment as wrapV2, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { getAddress } from 'viem';
import { startAnvil, deployToken, account, gatewayConfig, startGateway, chatBody, waitSettlement, usdToNusd, assertCleanLogs } from './lib.mjs';
import { startFacilitator } from './facilitator.mjs';

let chain, token, fac, gw;
const deployer = account(0), payTo = account(1), facSigner = account(7);
const agents = [account(8), account(9)];

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  for (const a of agents) await token.mint(a.address, 5_000_000n);
  fac = await startFacilitator({ chain, signer: facSigner, abi: token.abi });
  gw = await startGateway({ config: gatewayConfig({ token: token.address, payTo: payTo.address, settle: 'facilitator',
    facilitatorUrl: fac.url }) });
});

after(async () => {
  try { // the chain stops even when the gateway's logs fail the suite (a live anvil keeps node --test waiting)
    if (gw) { await gw.stop(); assertCleanLogs(gw.logs()); }
  } finally {
    if (fac) await fac.stop();
    if (chain) await chain.stop();
  }
});

const chatURL = () => `${gw.base}/v1/chat/completions`;

for (const version of [1, 2]) {
  test(`v${version} official client through the facilitator: 402 -> pay -> answer -> /settle on chain`, async () => {
    const agent = agents[version - 1];
    let fetchPay;
    if (version === 1) {
      fetchPay = wrapV1(fetch, chain.wallet(agent));
    } else {
      const client = new x402Client();
      registerExactEvmScheme(client, { signer: agent });
      client.setSpendControls({ allowedAssets: [{ network: 'eip155:84532', asset: token.address, maxAmountPerPayment: '1000000' }] });
      fetchPay = wrapV2(fetch, client);
    }
    const body = chatBody(`facilitator v${version}`, { max_tokens: 120 });
    const q = await fetch(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(q.status, 402);
    const amount = BigInt((await q.json()).accepts[0].maxAmountRequired);
    const payerBefore = await token.balanceOf(agent.address), payToBefore = await token.balanceOf(payTo.address);
    const res = await fetchPay(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(res.status, 200);
    const out = await res.json();
    const cost = usdToNusd(res.headers.get('x-gaterouter-cost'));
    const rid = res.headers.get('x-request-id');
    if (version === 2) assert.equal(decodePaymentResponseHeader(res.headers.get('payment-response')).success, true);
    assert.ok(out.choices[0].message.content);
    const { credit, settlement } = await waitSettlement(gw.base, agent.address, rid);
    assert.equal(settlement.state, 'settled', JSON.stringify(settlement));
    const call = fac.calls.filter((c) => c.path === '/settle').pop();
    assert.equal(call.body.x402Version, version);
    assert.equal(call.body.paymentPayload.x402Version, version);
    const req = call.body.paymentRequirements;
    assert.equal(getAddress(req.payTo), payTo.address);
    assert.equal(getAddress(req.asset), token.address);
    assert.equal(BigInt(req.maxAmountRequired ?? req.amount), amount);
    assert.equal(req.network, version === 1 ? 'base-sepolia' : 'eip155:84532');
    const rc = await chain.publicClient.getTransactionReceipt({ hash: settlement.transaction });
    assert.equal(getAddress(rc.from), facSigner.address);
    assert.equal(payerBefore - await token.balanceOf(agent.address), amount);
    assert.equal(await token.balanceOf(payTo.address) - payToBefore, amount);
    assert.equal(BigInt(credit.credit_nusd), amount * 1000n - cost);
  });
}
