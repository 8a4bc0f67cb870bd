// facilitator.mjs — a local stand-in for an x402 facilitator (the HTTP API of
// the x402 spec §7: POST /verify, POST /settle, GET /supported; v1 and v2
// bodies {x402Version, paymentPayload, paymentRequirements}). It verifies the
// EIP-712 signature with viem and settles by calling
// transferWithAuthorization(v, r, s) on the local chain with its own key.
import http from 'node:http';
import { getAddress, parseSignature, verifyTypedData } from 'viem';
import { TWA_TYPES } from './lib.mjs';

export async function startFacilitator({ chain, signer, abi }) {
  const calls = [];
  const wallet = chain.wallet(signer);
  const reqOf = (b) => b.paymentRequirements;
  const payloadOf = (b) => b.paymentPayload.payload;
  const networkOf = (b) => reqOf(b).network;

  async function verify(b) {
    const req = reqOf(b);
    const { authorization: a, signature } = payloadOf(b);
    const chainId = Number(String(req.network).startsWith('eip155:') ? req.network.slice(7) : chain.chain.id);
    const amount = BigInt(req.maxAmountRequired ?? req.amount);
    if (getAddress(a.to) !== getAddress(req.payTo)) return { isValid: false, invalidReason: 'invalid_exact_evm_recipient_mismatch', payer: a.from };
    if (BigInt(a.value) < amount) return { isValid: false, invalidReason: 'invalid_exact_evm_authorization_value', payer: a.from };
    const ok = await verifyTypedData({
      address: a.from, signature, primaryType: 'TransferWithAuthorization', types: TWA_TYPES,
      domain: { name: req.extra.name, version: req.extra.version, chainId, verifyingContract: getAddress(req.asset) },
      message: { ...a, value: BigInt(a.value), validAfter: BigInt(a.validAfter), validBefore: BigInt(a.validBefore) },
    });
    if (!ok) return { isValid: false, invalidReason: 'invalid_exact_evm_signature', payer: a.from };
    return { isValid: true, payer: a.from };
  }

  async function settle(b) {
    const v = await verify(b);
    if (!v.isValid) return { success: false, errorReason: v.invalidReason, payer: v.payer, transaction: '', network: networkOf(b) };
    const req = reqOf(b);
    const { authorization: a, signature } = payloadOf(b);
    const sig = parseSignature(signature);
    try {
      const hash = await wallet.writeContract({
        address: getAddress(req.asset), abi, functionName: 'transferWithAuthorization',
        args: [a.from, a.to, BigInt(a.value), BigInt(a.validAfter), BigInt(a.validBefore), a.nonce,
          Number(sig.v ?? (sig.yParity + 27)), sig.r, sig.s],
      });
      const rc = await chain.publicClient.waitForTransactionReceipt({ hash });
      if (rc.status !== 'success') return { success: false, errorReason: 'invalid_transaction_state', payer: a.from, transaction: hash, network: networkOf(b) };
      return { success: true, payer: a.from, transaction: hash, network: networkOf(b) };
    } catch (e) {
      return { success: false, errorReason: 'invalid_exact_evm_transaction_failed', errorMessage: String(e.shortMessage || e.message), payer: a.from, transaction: '', network: networkOf(b) };
    }
  }

  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', async () => {
      const send = (status, obj) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
      try {
        if (req.method === 'GET' && req.url === '/supported') {
          return send(200, { kinds: [{ x402Version: 1, scheme: 'exact', network: 'base-sepolia' }, { x402Version: 2, scheme: 'exact', network: `eip155:${chain.chain.id}` }], extensions: [], signers: { 'eip155:*': [signer.address] } });
        }
        const body = JSON.parse(data || '{}');
        calls.push({ path: req.url, body });
        if (req.method === 'POST' && req.url === '/verify') return send(200, await verify(body));
        if (req.method === 'POST' && req.url === '/settle') return send(200, await settle(body));
        send(404, { error: 'not found' });
      } catch (e) {
        send(500, { error: String(e) });
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, calls, stop: () => new Promise((r) => server.close(r)) };
}
