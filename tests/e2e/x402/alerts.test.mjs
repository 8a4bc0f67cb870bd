// alerts.test.mjs — an x402 settlement that fails raises a signed webhook
// alert (x402.settlement_failed, keyed by the request id): the facilitator
// stand-in here refuses every /settle ({success: false}), the gateway has
// served the paid request, so the payment is lost for the operator and the
// alert says which one.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { wrapFetchWithPayment as wrapV1 } from 'x402-fetch';
import { startAnvil, deployToken, account, gatewayConfig, startGateway, chatBody, waitSettlement, assertCleanLogs } from './lib.mjs';
import { SECRET, startReceiver } from '../../observability/webhook_receiver.mjs';

let chain, token, fac, gw, rx;
const deployer = account(0), payTo = account(1), agent = account(8);

// A facilitator that refuses to settle anything.
async function startRefusingFacilitator() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url === '/settle') res.end(JSON.stringify({ success: false, errorReason: 'insufficient_funds', transaction: '', network: 'base-sepolia' }));
      else if (req.url === '/supported') res.end(JSON.stringify({ kinds: [{ x402Version: 1, scheme: 'exact', network: 'base-sepolia' }] }));
      else res.end(JSON.stringify({ isValid: true }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  await token.mint(agent.address, 5_000_000n);
  fac = await startRefusingFacilitator();
  rx = await startReceiver();
  gw = await startGateway({ config: gatewayConfig({ token: token.address, payTo: payTo.address, settle: 'facilitator',
    facilitatorUrl: fac.url, extra: `alerts:\n  url: ${rx.url}\n  secret: ${SECRET}\n  retry_base_ms: 100\n` }) });
});

after(async () => {
  try {
    if (gw) { await gw.stop(); assertCleanLogs(gw.logs()); }
  } finally {
    if (rx) await rx.close();
    if (fac) await fac.stop();
    if (chain) await chain.stop();
  }
});

test('a settlement the facilitator refuses: one x402.settlement_failed alert naming the request', async () => {
  const fetchPay = wrapV1(fetch, chain.wallet(agent));
  const res = await fetchPay(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody('alert me', { max_tokens: 50 }) });
  assert.equal(res.status, 200);
  await res.json();
  const rid = res.headers.get('x-request-id');
  const { settlement } = await waitSettlement(gw.base, agent.address, rid);
  assert.equal(settlement.state, 'failed', JSON.stringify(settlement));
  const got = await rx.waitFor((a) => a.body.type === 'x402.settlement_failed');
  assert.equal(got.length, 1);
  assert.equal(got[0].body.id, `settlement:${rid}`);
  assert.equal(got[0].body.data.request_id, rid);
  assert.match(got[0].body.data.detail, /insufficient_funds/);
  assert.match(got[0].body.data.detail, new RegExp(agent.address, 'i'));
  assert.equal(got[0].headers['x-gaterouter-event'], 'x402.settlement_failed');
  assert.deepEqual(rx.bad, []);
});
