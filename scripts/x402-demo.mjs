// x402-demo.mjs — from nothing to a chat completion paid with x402, locally:
// a local chain (anvil, chain id 84532 = Base Sepolia's) with a USDC-like
// EIP-3009 token (tests/e2e/x402/contracts/TestUSDC.sol), GateRouter on
// config/examples/x402-base-sepolia.yaml in front of the mock upstream
// (`gaterouter mock`, OpenAI-compatible), and the official x402 v2 client
// (@x402/fetch + @x402/evm) paying.
// Prints the 402, the payment, the answer and the settlement transaction.
// Run through scripts/x402-demo.sh (builds first if needed).
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { startAnvil, deployToken, account, accountKey, CHAIN_ID } from '../tests/e2e/x402/lib.mjs';
import { startDemoGateway } from './x402-demo-gateway.mjs';

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64').toString('utf8'));
const usdc = (atomic) => `${(Number(atomic) / 1e6).toFixed(6)} USDC`;
const step = (t) => console.log(`\n=== ${t}`);

let chain, gw;
try {
  step('local chain and a USDC-like token');
  chain = await startAnvil();
  const deployer = account(0), payTo = account(1), relayer = account(2), agent = account(3);
  const token = await deployToken(chain, deployer);
  await token.mint(agent.address, 5_000_000n);
  console.log(`anvil ${chain.url} (chain ${CHAIN_ID}); token ${token.address}; the agent ${agent.address} holds ${usdc(5_000_000n)}`);

  step('GateRouter on config/examples/x402-base-sepolia.yaml');
  gw = await startDemoGateway('x402-base-sepolia.yaml', { X402_ASSET: token.address, X402_RPC_URL: chain.url, X402_RELAYER_KEY: accountKey(2),
    X402_PAY_TO: payTo.address });
  const { base, mockPort } = gw;
  console.log(`listening on ${base} (upstream: the mock on port ${mockPort}); payTo ${payTo.address}; relayer ${relayer.address}`);

  const url = `${base}/v1/chat/completions`;
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello to an agent that pays per request.' }] });
  const headers = { 'content-type': 'application/json' };

  step('1. no payment: 402 Payment Required');
  const q = await fetch(url, { method: 'POST', headers, body });
  const required = b64json(q.headers.get('payment-required'));
  console.log(`HTTP ${q.status}; PAYMENT-REQUIRED offers:`);
  for (const a of required.accepts)
    console.log(`  ${a.scheme} on ${a.network}: ${usdc(a.amount)} of ${a.asset} to ${a.payTo} (valid ${a.maxTimeoutSeconds} s)`);
  await q.text();

  step('2. the official x402 v2 client signs and pays (EIP-3009, no gas for the agent)');
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: agent });
  // @x402/fetch pays only for assets it knows unless told: this token is a local one
  client.setSpendControls({ allowedAssets: [{ network: `eip155:${CHAIN_ID}`, asset: token.address, maxAmountPerPayment: '1000000' }] });
  const seen = async (input, init) => {
    const h = new Headers(init?.headers || (input instanceof Request ? input.headers : undefined));
    const sig = h.get('payment-signature');
    if (sig) {
      const p = b64json(sig);
      const a = p.payload.authorization;
      console.log(`PAYMENT-SIGNATURE: ${p.accepted.scheme} ${usdc(a.value)} from ${a.from} to ${a.to}, nonce ${a.nonce.slice(0, 18)}…, valid until ${new Date(Number(a.validBefore) * 1000).toISOString()}`);
    }
    return fetch(input, init);
  };
  const res = await wrapFetchWithPayment(seen, client)(url, { method: 'POST', headers, body });
  const answer = await res.json();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(answer)}\n${gw.logs().slice(-2000)}`);

  step('3. the answer');
  console.log(`HTTP ${res.status}: ${JSON.stringify(answer.choices?.[0]?.message?.content)}`);
  const pr = decodePaymentResponseHeader(res.headers.get('payment-response'));
  console.log(`PAYMENT-RESPONSE: success=${pr.success} payer=${pr.payer} amount=${usdc(pr.amount)} (settlement: ${res.headers.get('x-gaterouter-x402-settlement')})`);

  step('4. the settlement on chain');
  const id = res.headers.get('x-request-id');
  let pay;
  for (let i = 0; i < 200; i++) {
    pay = await (await fetch(`${base}/v1/x402/payments?id=${id}`)).json();
    if (pay.state && pay.state !== 'pending') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const rc = await chain.publicClient.getTransactionReceipt({ hash: pay.transaction });
  console.log(`GET /v1/x402/payments?id=${id}: ${pay.state}, tx ${pay.transaction} (block ${rc.blockNumber}, ${rc.status}, from the relayer ${rc.from})`);
  console.log(`the agent now holds ${usdc(await token.balanceOf(agent.address))}; payTo ${usdc(await token.balanceOf(payTo.address))}`);
  const credit = await (await fetch(`${base}/v1/x402/credit?address=${agent.address}`)).json();
  console.log(`credit for the unused part of the quote: $${credit.credit_usd} (spent with an X-Payer header next time)`);
  if (pay.state !== 'settled' || rc.status !== 'success') process.exitCode = 1;
} catch (e) {
  console.error(`demo failed: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  if (gw) await gw.stop();
  if (chain) await chain.stop();
}
