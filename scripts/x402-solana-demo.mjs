// x402-solana-demo.mjs — from nothing to a chat completion paid with x402 on
// Solana, locally: a local Solana (LiteSVM with the real SPL Token program
// behind a JSON-RPC stand-in, tests/e2e/x402/svm_rpc.mjs) with a USDC-like
// mint, GateRouter on config/examples/x402-solana-devnet.yaml in front of the
// mock upstream, and the official x402 v2 client (@x402/fetch + @x402/svm)
// paying. Prints the 402, the payment, the answer and the confirmed
// transaction. Run through scripts/x402-demo.sh solana.
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { ExactSvmScheme } from '@x402/svm/exact/client';
import { createKeyPairSignerFromPrivateKeyBytes, generateKeyPairSigner, getBase58Decoder, getTransactionDecoder } from '@solana/kit';
import { startSvmRpc } from '../tests/e2e/x402/svm_rpc.mjs';
import { startDemoGateway } from './x402-demo-gateway.mjs';

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64').toString('utf8'));
const usdc = (atomic) => `${(Number(atomic) / 1e6).toFixed(6)} USDC`;
const step = (t) => console.log(`\n=== ${t}`);
const NETWORK = 'solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1';

let rpc, gw;
try {
  step('local Solana (LiteSVM) and a USDC-like mint');
  rpc = await startSvmRpc();
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const feePayer = await createKeyPairSignerFromPrivateKeyBytes(seed);
  const agent = await generateKeyPairSigner(), payTo = await generateKeyPairSigner();
  const mint = (await generateKeyPairSigner()).address;
  rpc.createMint(mint, payTo.address);
  const agentAta = await rpc.fund(agent.address, mint, 5_000_000n);
  const payToAta = await rpc.fund(payTo.address, mint, 0n);
  rpc.airdrop(feePayer.address, 1_000_000_000n);
  console.log(`JSON-RPC ${rpc.url}; mint ${mint}; the agent ${agent.address} holds ${usdc(5_000_000n)} and no SOL`);

  step('GateRouter on config/examples/x402-solana-devnet.yaml');
  gw = await startDemoGateway('x402-solana-devnet.yaml', { X402_SOLANA_ASSET: mint, X402_SOLANA_RPC_URL: rpc.url,
    X402_SOLANA_FEE_PAYER: getBase58Decoder().decode(seed), X402_SOLANA_PAY_TO: payTo.address });
  const { base, mockPort } = gw;
  console.log(`listening on ${base}; payTo ${payTo.address}; fee payer ${feePayer.address}`);

  const url = `${base}/v1/chat/completions`;
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello to an agent that pays per request.' }] });
  const headers = { 'content-type': 'application/json' };

  step('1. no payment: 402 Payment Required');
  const q = await fetch(url, { method: 'POST', headers, body });
  const required = b64json(q.headers.get('payment-required'));
  console.log(`HTTP ${q.status}; PAYMENT-REQUIRED offers:`);
  for (const a of required.accepts)
    console.log(`  ${a.scheme} on ${a.network}: ${usdc(a.amount)} of ${a.asset} to ${a.payTo}, fee payer ${a.extra.feePayer}`);
  await q.text();

  step('2. the official x402 v2 client builds and signs the transfer (the gateway pays the fee)');
  const client = new x402Client();
  client.register('solana:*', new ExactSvmScheme(agent, { rpcUrl: rpc.url }));
  client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: mint, maxAmountPerPayment: '1000000' }] });
  const seen = async (input, init) => {
    const h = new Headers(init?.headers || (input instanceof Request ? input.headers : undefined));
    const sig = h.get('payment-signature');
    if (sig) {
      const p = b64json(sig);
      const tx = getTransactionDecoder().decode(Buffer.from(p.payload.transaction, 'base64'));
      console.log(`PAYMENT-SIGNATURE: ${p.accepted.scheme} on ${p.accepted.network}, a ${tx.messageBytes.length}-byte message signed by ${Object.entries(tx.signatures).filter(([, s]) => s).map(([a]) => a).join(', ')}`);
    }
    return fetch(input, init);
  };
  const t0 = performance.now();
  const res = await wrapFetchWithPayment(seen, client)(url, { method: 'POST', headers, body });
  const answer = await res.json();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(answer)}\n${gw.logs().slice(-2000)}`);

  step('3. the answer, after the payment was confirmed');
  console.log(`HTTP ${res.status} in ${(performance.now() - t0).toFixed(0)} ms: ${JSON.stringify(answer.choices?.[0]?.message?.content)}`);
  const pr = decodePaymentResponseHeader(res.headers.get('payment-response'));
  console.log(`PAYMENT-RESPONSE: success=${pr.success} payer=${pr.payer} transaction=${pr.transaction} (settlement: ${res.headers.get('x-gaterouter-x402-settlement')})`);
  console.log(`the agent now holds ${usdc(rpc.tokenBalance(agentAta))}; payTo ${usdc(rpc.tokenBalance(payToAta))}`);
  if (!pr.success || rpc.tokenBalance(payToAta) === 0n) process.exitCode = 1;
} catch (e) {
  console.error(`demo failed: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  if (gw) await gw.stop();
  if (rpc) await rpc.close();
}
