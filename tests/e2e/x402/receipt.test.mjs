// receipt.test.mjs — signed receipts (the x402 `offer-receipt` extension,
// format eip712): with x402.receipt_key set, a paid reply's settlement header
// (v2 PAYMENT-RESPONSE, v1 X-PAYMENT-RESPONSE) carries
// extensions["offer-receipt"].info.receipt, which viem verifies against the
// spec's Receipt type and domain and recovers to the signer the pricing
// document publishes; a tampered payload does not recover to it.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { wrapFetchWithPayment, x402Client } from '@x402/fetch';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { recoverTypedDataAddress, getAddress } from 'viem';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, b64json, signAuth, v1Header,
  assertCleanLogs, CHAIN_ID,
} from './lib.mjs';

let chain, token, gw;
const deployer = account(0), payTo = account(1), agent = account(3), receiptSigner = account(9);

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  await token.mint(agent.address, 10_000_000n);
  const base = gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url, relayerKey: accountKey(2) });
  gw = await startGateway({ config: (port, dir) => base(port, dir).replace('x402:\n', `x402:\n  receipt_key: "${accountKey(9)}"\n`) });
});

after(async () => {
  try { // the chain stops even when the gateway's logs fail the suite (a live anvil keeps node --test waiting)
    if (gw) {
      const code = await gw.stop();
      assertCleanLogs(gw.logs());
      assert.equal(code, 0);
    }
  } finally {
    if (chain) await chain.stop();
  }
});

const TYPES = { Receipt: [
  { name: 'network', type: 'string' }, { name: 'resourceUrl', type: 'string' }, { name: 'payer', type: 'string' },
  { name: 'issuedAt', type: 'uint256' }, { name: 'transaction', type: 'string' }] };
const recover = (r) => recoverTypedDataAddress({
  domain: { name: 'x402 receipt', version: '1', chainId: CHAIN_ID }, types: TYPES, primaryType: 'Receipt',
  message: { ...r.payload, issuedAt: BigInt(r.payload.issuedAt) }, signature: r.signature });

test('the pricing document names the receipt signer and the extension', async () => {
  const p = await (await fetch(`${gw.base}/v1/x402/pricing`)).json();
  assert.equal(p.receipt_signer, receiptSigner.address);
  assert.ok(p.extensions.includes('offer-receipt'));
});

test('v2 official client: the settlement header carries a receipt signed by the receipt key', async () => {
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: agent });
  client.setSpendControls({ allowedAssets: [{ network: 'eip155:84532', asset: token.address, maxAmountPerPayment: '1000000' }] });
  const t0 = Math.floor(Date.now() / 1000);
  const res = await wrapFetchWithPayment(fetch, client)(`${gw.base}/v1/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: chatBody('a receipt please', { max_tokens: 16 }) });
  assert.equal(res.status, 200);
  await res.text();
  const s = b64json(res.headers.get('payment-response'));
  assert.equal(s.success, true);
  const ext = s.extensions['offer-receipt'];
  assert.equal(ext.info.version, 1);
  const r = ext.info.receipt;
  assert.equal(r.format, 'eip712');
  assert.equal(r.payload.network, 'eip155:84532');
  assert.equal(getAddress(r.payload.payer), agent.address);
  assert.equal(r.payload.resourceUrl, `${gw.base}/v1/chat/completions`);
  assert.ok(r.payload.issuedAt >= t0 && r.payload.issuedAt <= t0 + 60);
  assert.equal(await recover(r), receiptSigner.address, 'signed by the receipt key');
  const forged = { ...r, payload: { ...r.payload, payer: payTo.address.toLowerCase() } };
  assert.notEqual(await recover(forged), receiptSigner.address, 'a tampered receipt does not verify');
});

test('v1 (X-PAYMENT): the receipt is in X-PAYMENT-RESPONSE too', async () => {
  const body = chatBody('v1 receipt', { max_tokens: 16 });
  const q = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(q.status, 402);
  const amount = BigInt((await q.json()).accepts[0].maxAmountRequired);
  const signed = await signAuth(agent, { token: token.address, to: payTo.address, value: amount });
  const res = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-payment': v1Header(signed) }, body });
  assert.equal(res.status, 200);
  await res.text();
  const r = b64json(res.headers.get('x-payment-response')).extensions['offer-receipt'].info.receipt;
  assert.equal(r.payload.network, 'eip155:84532', 'CAIP-2 even for v1');
  assert.equal(await recover(r), receiptSigner.address);
});

test('--check-config: the new x402 limits and the receipt key are validated at load', async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'gr-x402-check-'));
  const base = gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url, relayerKey: accountKey(2) });
  const check = (lines) => {
    const path = join(dir, 'c.yaml');
    writeFileSync(path, base(1, dir).replace('x402:\n', `x402:\n${lines}`));
    const r = spawnSync(process.env.GR_BIN || 'build/gaterouter', ['--check-config', path], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  const ok = check(`  receipt_key: "${accountKey(9)}"\n  payment_id_ttl_s: 60\n  payment_id_max_reply_bytes: 1024\n`);
  assert.equal(ok.code, 0, ok.out);
  for (const [line, want] of [['  receipt_key: "0x1234"\n', /receipt_key/], ['  payment_id_ttl_s: 59\n', /payment_id_ttl_s/],
    ['  payment_id_ttl_s: 2592001\n', /payment_id_ttl_s/], ['  payment_id_max_reply_bytes: 1023\n', /payment_id_max_reply_bytes/]]) {
    const r = check(line);
    assert.notEqual(r.code, 0, line);
    assert.match(r.out, want);
    assert.ok(!r.out.includes(accountKey(9).slice(2)), 'the key is not echoed');
  }
});
