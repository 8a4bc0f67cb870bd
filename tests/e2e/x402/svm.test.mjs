// svm.test.mjs — x402 `exact` on Solana end to end: the official v2 client
// (@x402/fetch + @x402/svm's ExactSvmScheme) pays a GateRouter whose Solana
// network is a LiteSVM stand-in (svm_rpc.mjs: the real SPL Token program);
// the gateway verifies locally, adds its fee payer's signature, sends and
// confirms before serving. Balances move by exactly the paid amount. Refused
// with the scheme's reasons (402, nothing moves): replay, wrong mint, wrong
// destination, amount mismatch, compute-unit price and limit over the caps,
// an extra instruction, forged and missing signatures, the fee payer as the
// transfer's authority or in an instruction's accounts, a failing transfer.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { wrapFetchWithPayment, x402Client } from '@x402/fetch';
import { ExactSvmScheme } from '@x402/svm/exact/client';
import {
  appendTransactionMessageInstructions, createKeyPairSignerFromPrivateKeyBytes, createTransactionMessage,
  generateKeyPairSigner, getBase64EncodedWireTransaction, getBase58Decoder,
  partiallySignTransactionMessageWithSigners, pipe, prependTransactionMessageInstruction,
  setTransactionMessageFeePayer, setTransactionMessageLifetimeUsingBlockhash,
} from '@solana/kit';
import { getSetComputeUnitLimitInstruction, getSetComputeUnitPriceInstruction } from '@solana-program/compute-budget';
import { getTransferCheckedInstruction, TOKEN_PROGRAM_ADDRESS } from '@solana-program/token';
import { startSvmRpc, DECIMALS } from './svm_rpc.mjs';
import { startGateway, testStoreUrl } from '../../compat/harness.mjs';
import { assertCleanLogs, b64json, toB64 } from './lib.mjs';

const NETWORK = 'solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1'; // solana-devnet
const MEMO = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';
const FUNDS = 50_000_000n; // 50 USDC

let rpc, gw, mint, payer, payTo, feePayer, feePayerSeed58, payerAta, payToAta;

function config(port, dir) {
  return `
store: "${testStoreUrl(dir)}"
server:
  listen: 127.0.0.1:${port}
  workers: 2
log:
  access_log: "off"
  level: info
auth:
  keys: [ { name: test, key: sk-test-x402-0001 } ]
providers:
  - name: mock
    kind: mock
models:
  - name: mock-gpt
    provider: mock
    model: mock-gpt-1
    pricing: { input: 2.50, output: 10.00 }
    capabilities: [chat, stream]
x402:
  settle: self
  default_max_tokens: 1000
  networks:
    - network: solana-devnet
      asset: "${mint}"
      pay_to: "${payTo.address}"
      fee_payer_key: "${feePayerSeed58}"
      rpc_url: ${rpc.url}
      max_timeout_seconds: 60
      max_compute_unit_price: 1000000
      max_compute_unit_limit: 40000
      confirm_timeout_ms: 5000
`;
}

const chat = (content = 'Say hello in five words.') =>
  JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content }], max_tokens: 50 });

async function quote() {
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: chat() });
  assert.equal(r.status, 402);
  const req = b64json(r.headers.get('payment-required'));
  const acc = req.accepts.find((a) => a.network === NETWORK);
  assert.ok(acc, `no Solana offer in ${JSON.stringify(req.accepts)}`);
  return { req, acc, body: await r.json() };
}

async function blockhash() {
  const r = await fetch(rpc.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'getLatestBlockhash' }) });
  return (await r.json()).result.value;
}

// A payment transaction as @x402/svm builds it, with one thing changed.
async function payTx(acc, o = {}) {
  const authority = o.authority || payer;
  const amount = o.amount ?? BigInt(acc.amount);
  const transfer = getTransferCheckedInstruction({ source: o.source || payerAta, mint: o.mint || mint,
    destination: o.dest || payToAta, authority, amount, decimals: o.decimals ?? DECIMALS },
  { programAddress: TOKEN_PROGRAM_ADDRESS });
  const memo = { programAddress: MEMO, accounts: [],
    data: new TextEncoder().encode(Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex')) };
  const extra = o.extra ? [o.extra] : [];
  const bh = await blockhash();
  const msg = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(o.feePayer || feePayer.address, m),
    (m) => prependTransactionMessageInstruction(getSetComputeUnitPriceInstruction({ microLamports: o.cuPrice ?? 1n }), m),
    (m) => prependTransactionMessageInstruction(getSetComputeUnitLimitInstruction({ units: o.cuLimit ?? 20000 }), m),
    (m) => appendTransactionMessageInstructions([transfer, memo, ...extra], m),
    (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: bh.blockhash, lastValidBlockHeight: BigInt(bh.lastValidBlockHeight) }, m),
  );
  const signed = await partiallySignTransactionMessageWithSigners(msg);
  const wire = Buffer.from(getBase64EncodedWireTransaction(signed), 'base64');
  if (o.forge) wire[1 + 64 + 7] ^= 1;                  // the payer's signature (slot 1)
  if (o.unsigned) wire.fill(0, 1 + 64, 1 + 128);        // no payer signature at all
  return wire.toString('base64');
}

async function pay(acc, tx, req) {
  const header = toB64({ x402Version: 2, resource: req.resource, accepted: acc, payload: { transaction: tx } });
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'PAYMENT-SIGNATURE': header }, body: chat() });
  const text = await r.text();
  const pr = r.headers.get('payment-response');
  return { status: r.status, text, settle: pr ? b64json(pr) : null, headers: r.headers };
}

async function expectRefused(o, reason) {
  const { req, acc } = await quote();
  const before = [rpc.tokenBalance(payerAta), rpc.tokenBalance(payToAta), rpc.solBalance(feePayer.address)];
  const res = await pay(acc, await payTx(acc, o), req);
  assert.equal(res.status, 402, res.text);
  assert.equal(res.settle?.success, false, res.text);
  assert.equal(res.settle.errorReason, reason);
  assert.deepEqual([rpc.tokenBalance(payerAta), rpc.tokenBalance(payToAta), rpc.solBalance(feePayer.address)], before,
    'a refused payment moves nothing');
}

before(async () => {
  rpc = await startSvmRpc();
  const seed = crypto.getRandomValues(new Uint8Array(32));
  feePayer = await createKeyPairSignerFromPrivateKeyBytes(seed);
  feePayerSeed58 = getBase58Decoder().decode(seed);
  payer = await generateKeyPairSigner();
  payTo = await generateKeyPairSigner();
  mint = (await generateKeyPairSigner()).address;
  rpc.createMint(mint, payTo.address);
  payerAta = await rpc.fund(payer.address, mint, FUNDS);
  payToAta = await rpc.fund(payTo.address, mint, 0n);
  rpc.airdrop(feePayer.address, 1_000_000_000n);
  gw = await startGateway({ config });
});

after(async () => {
  try {
    if (gw) {
      await gw.stop();
      assertCleanLogs(gw.logs());
    }
  } finally {
    if (rpc) await rpc.close();
  }
});

test('402 offers Solana exact: CAIP-2 network, the mint, payTo, extra.feePayer', async () => {
  const { acc, body } = await quote();
  assert.equal(acc.scheme, 'exact');
  assert.equal(acc.asset, mint);
  assert.equal(acc.payTo, payTo.address);
  assert.equal(acc.extra.feePayer, feePayer.address);
  assert.ok(BigInt(acc.amount) > 0n);
  // the v1 body names the v1 network
  const v1 = body.accepts.find((a) => a.network === 'solana-devnet');
  assert.ok(v1, JSON.stringify(body));
  assert.equal(v1.maxAmountRequired, acc.amount);
});

test('the official client pays; balances move by exactly the amount; the tx is confirmed before the answer', async () => {
  const { acc } = await quote();
  const client = new x402Client();
  client.register('solana:*', new ExactSvmScheme(payer, { rpcUrl: rpc.url }));
  client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: mint, maxAmountPerPayment: '1000000' }] });
  const pay = wrapFetchWithPayment(fetch, client);
  const b0 = [rpc.tokenBalance(payerAta), rpc.tokenBalance(payToAta)];
  const t0 = performance.now();
  const r = await pay(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: chat() });
  const ms = performance.now() - t0;
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.ok(JSON.parse(text).choices[0].message.content);
  const s = b64json(r.headers.get('payment-response'));
  assert.equal(s.success, true);
  assert.equal(s.network, NETWORK);
  assert.equal(s.payer, payer.address);
  assert.match(s.transaction, /^[1-9A-HJ-NP-Za-km-z]{64,88}$/);
  assert.equal(r.headers.get('x-gaterouter-x402-settlement'), 'settled');
  const paid = BigInt(acc.amount);
  assert.deepEqual([rpc.tokenBalance(payerAta), rpc.tokenBalance(payToAta)], [b0[0] - paid, b0[1] + paid]);
  console.log(`# paid request (402 + sign + verify + send + confirm + answer): ${ms.toFixed(1)} ms`);
});

test('replay: the same signed transaction is refused (duplicate_settlement), charged once', async () => {
  const { req, acc } = await quote();
  const tx = await payTx(acc);
  const first = await pay(acc, tx, req);
  assert.equal(first.status, 200, first.text);
  const after1 = rpc.tokenBalance(payToAta);
  const again = await pay(acc, tx, req);
  assert.equal(again.status, 402, again.text);
  assert.equal(again.settle.errorReason, 'duplicate_settlement');
  assert.equal(rpc.tokenBalance(payToAta), after1);
});

test('wrong mint is refused', async () => {
  const other = (await generateKeyPairSigner()).address;
  await expectRefused({ mint: other }, 'invalid_exact_svm_payload_mint_mismatch');
});

test('wrong destination (not payTo\'s token account) is refused', async () => {
  const thief = await generateKeyPairSigner();
  const dest = await rpc.fund(thief.address, mint, 0n);
  await expectRefused({ dest }, 'invalid_exact_svm_payload_recipient_mismatch');
});

test('amount other than the accepted amount is refused', async () => {
  const { acc } = await quote();
  await expectRefused({ amount: BigInt(acc.amount) - 1n }, 'invalid_exact_svm_payload_amount_mismatch');
  await expectRefused({ amount: BigInt(acc.amount) + 1n }, 'invalid_exact_svm_payload_amount_mismatch');
});

test('compute-unit price and limit above the configured caps are refused', async () => {
  await expectRefused({ cuPrice: 1_000_001n },
    'invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high');
  await expectRefused({ cuLimit: 40001 },
    'invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction_too_high');
});

test('an extra instruction after the allowed ones is refused', async () => {
  const sneaky = getTransferCheckedInstruction({ source: payerAta, mint, destination: payToAta, authority: payer,
    amount: 1n, decimals: DECIMALS });
  await expectRefused({ extra: sneaky }, 'invalid_exact_svm_payload_unknown_fifth_instruction');
});

test('forged and missing payer signatures are refused', async () => {
  await expectRefused({ forge: true }, 'invalid_exact_svm_payload_signature');
  await expectRefused({ unsigned: true }, 'invalid_exact_svm_payload_signature');
});

test('fee payer misuse: as the transfer authority, as the source, or another fee payer', async () => {
  // the fee payer's own token account as the source, the fee payer signing as authority
  const fpAta = await rpc.fund(feePayer.address, mint, 10_000_000n);
  const fpAsSigner = { address: feePayer.address, signTransactions: async (txs) => txs.map(() => ({})) };
  await expectRefused({ authority: fpAsSigner, source: fpAta },
    'invalid_exact_svm_payload_transaction_fee_payer_transferring_funds');
  await expectRefused({ source: feePayer.address }, // the fee payer's own key among the transfer's accounts
    'invalid_exact_svm_payload_transaction_fee_payer_included_in_instruction_accounts');
  await expectRefused({ source: fpAta }, 'transaction_simulation_failed'); // its token account: not the payer's to move
  const other = await generateKeyPairSigner();
  await expectRefused({ feePayer: other.address }, 'invalid_exact_svm_payload_fee_payer_mismatch');
});

test('a transfer the chain refuses (insufficient funds) is not served and moves nothing', async () => {
  const poor = await generateKeyPairSigner();
  const poorAta = await rpc.fund(poor.address, mint, 1n);
  await expectRefused({ authority: poor, source: poorAta }, 'transaction_simulation_failed');
});

test('a malformed transaction is refused with the decode reason', async () => {
  const { req, acc } = await quote();
  const res = await pay(acc, Buffer.from('not a transaction').toString('base64'), req);
  assert.equal(res.status, 402, res.text);
  assert.match(res.text, /invalid_exact_svm_payload_transaction_could_not_be_decoded/);
});

test('--check-config: Solana networks are typed and validated at load', async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'gr-svm-check-'));
  const check = (edit) => {
    const path = join(dir, 'c.yaml');
    writeFileSync(path, edit(config(1, dir)));
    const r = spawnSync(process.env.GR_BIN || 'build/gaterouter', ['--check-config', path], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  const ok = check((c) => c);
  assert.equal(ok.code, 0, ok.out);
  const net = '      max_timeout_seconds: 60\n';
  for (const [edit, want] of [
    [(c) => c.replace(`asset: "${mint}"`, 'asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"'), /asset: want the token mint/],
    [(c) => c.replace(`asset: "${mint}"`, 'asset: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt10"'), /asset/], // '0' is not base58
    [(c) => c.replace(`pay_to: "${payTo.address}"`, 'pay_to: "abc"'), /pay_to/],
    [(c) => c.replace(`fee_payer_key: "${feePayerSeed58}"`, 'fee_payer_key: "0xdeadbeef"'), /fee_payer_key/],
    [(c) => c.replace(net, `${net}      decimals: 10\n`), /decimals/],
    [(c) => c.replace(net, `${net}      max_compute_unit_price: 5000001\n`), /max_compute_unit_price/],
    [(c) => c.replace(net, `${net}      max_compute_unit_limit: 1400001\n`), /max_compute_unit_limit/],
    [(c) => c.replace(net, `${net}      confirm_timeout_ms: 999\n`), /confirm_timeout_ms/],
    [(c) => c.replace('network: solana-devnet', 'network: solana:not-base58!'), /network/],
    [(c) => c.replace('settle: self', 'settle: facilitator'), /settle: self/],
    [(c) => c.replace(net, `${net}      relayer_key: "0x${'11'.repeat(32)}"\n`), /EVM settings/],
    [(c) => c.replace('  default_max_tokens: 1000\n', '  default_max_tokens: 1000\n  solana_settle_threads: 0\n'), /solana_settle_threads/],
  ]) {
    const r = check(edit);
    assert.notEqual(r.code, 0, `accepted: ${edit}`);
    assert.match(r.out, want);
    assert.ok(!r.out.includes(feePayerSeed58), 'the key is not echoed');
  }
});

test('v1: X-PAYMENT on solana-devnet is verified, settled and answered with X-PAYMENT-RESPONSE', async () => {
  const { body } = await quote();
  const v1 = body.accepts.find((a) => a.network === 'solana-devnet');
  const acc = { ...v1, amount: v1.maxAmountRequired };
  const tx = await payTx(acc);
  const b0 = rpc.tokenBalance(payToAta);
  const header = toB64({ x402Version: 1, scheme: 'exact', network: 'solana-devnet', payload: { transaction: tx } });
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'X-PAYMENT': header }, body: chat() });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const s = b64json(r.headers.get('x-payment-response'));
  assert.equal(s.success, true);
  assert.equal(s.network, 'solana-devnet');
  assert.equal(rpc.tokenBalance(payToAta), b0 + BigInt(v1.maxAmountRequired));
  // v1 pays exactly the asked amount: more is refused too
  const more = toB64({ x402Version: 1, scheme: 'exact', network: 'solana-devnet',
    payload: { transaction: await payTx(acc, { amount: BigInt(v1.maxAmountRequired) + 1n }) } });
  const r2 = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'X-PAYMENT': more }, body: chat() });
  assert.equal(r2.status, 402);
  assert.equal(b64json(r2.headers.get('x-payment-response')).errorReason, 'invalid_exact_svm_payload_amount_mismatch');
  await r2.text();
});

test('GET /v1/x402/pricing lists the Solana network with its mint, payTo and fee payer', async () => {
  const r = await fetch(`${gw.baseURL}/x402/pricing`);
  assert.equal(r.status, 200);
  const j = await r.json();
  const a = j.accepts.find((x) => x.network === NETWORK);
  assert.ok(a, JSON.stringify(j.accepts));
  assert.equal(a.network_v1, 'solana-devnet');
  assert.equal(a.asset, mint);
  assert.equal(a.payTo, payTo.address);
  assert.equal(a.extra.feePayer, feePayer.address);
  assert.equal(a.decimals, DECIMALS);
});
