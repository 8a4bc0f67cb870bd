// upto_lib.mjs — the `upto` fixtures shared by the x402 end-to-end suites:
// the canonical Permit2 and x402UptoPermit2Proxy addresses, GateRouter's
// stand-ins for them (contracts/TestPermit2.sol, TestUptoProxy.sol) compiled
// with npm solc, deployed and copied to the canonical addresses with
// anvil_setCode, and a Permit2 witness authorization signed by hand as the
// official client does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeDeployData, getAddress, hashDomain, parseAbi, toHex } from 'viem';
import { CHAIN_ID, toB64 } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// Canonical addresses, as hard-coded in @x402/evm (constants.ts).
export const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
export const UPTO_PROXY = '0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002';

export const UPTO_TYPES = {
  PermitWitnessTransferFrom: [
    { name: 'permitted', type: 'TokenPermissions' }, { name: 'spender', type: 'address' },
    { name: 'nonce', type: 'uint256' }, { name: 'deadline', type: 'uint256' }, { name: 'witness', type: 'Witness' },
  ],
  TokenPermissions: [{ name: 'token', type: 'address' }, { name: 'amount', type: 'uint256' }],
  Witness: [{ name: 'to', type: 'address' }, { name: 'facilitator', type: 'address' }, { name: 'validAfter', type: 'uint256' }],
};
export const proxyAbi = parseAbi([
  'function settle(((address token, uint256 amount) permitted, uint256 nonce, uint256 deadline) permit, uint256 amount, address owner, (address to, address facilitator, uint256 validAfter) witness, bytes signature)',
  'function PERMIT2() view returns (address)',
  'error AmountExceedsPermitted()',
]);
export const permit2Abi = parseAbi(['function DOMAIN_SEPARATOR() view returns (bytes32)',
  'function nonceBitmap(address owner, uint256 wordPos) view returns (uint256)',
  'error SignatureExpired(uint256 signatureDeadline)', 'error InvalidAmount(uint256 maxAmount)', 'error InvalidNonce()',
  'error InvalidSignatureLength()', 'error InvalidSignature()', 'error InvalidSigner()']);
// settle() and every revert it can bubble up (its own errors and Permit2's)
export const settleAbi = [...proxyAbi, ...parseAbi(['error UnauthorizedFacilitator()', 'error InvalidAmount()',
  'error InvalidOwner()', 'error InvalidDestination()', 'error PaymentTooEarly()']), ...permit2Abi.slice(2)];

// ---- compile TestPermit2 + TestUptoProxy (npm solc, as lib.mjs compileToken) ----
function compileUpto() {
  const solc = require('solc');
  const files = ['TestPermit2.sol', 'TestUptoProxy.sol'];
  const sources = Object.fromEntries(files.map((f) => [f, { content: readFileSync(join(here, 'contracts', f), 'utf8') }]));
  const input = {
    language: 'Solidity', sources,
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const pick = (file, name) => {
    const c = out.contracts[file][name];
    return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  };
  return { permit2: pick('TestPermit2.sol', 'TestPermit2'), proxy: pick('TestUptoProxy.sol', 'TestUptoProxy') };
}

async function rpc(chain, method, params = []) {
  const r = await fetch(chain.url, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${JSON.stringify(j.error)}`);
  return j.result;
}

// Deploys from the deployer and returns the address; the caller copies the code.
async function deploy(chain, deployer, data) {
  const chainId = Number(await rpc(chain, 'eth_chainId'));
  const nonce = Number(await rpc(chain, 'eth_getTransactionCount', [deployer.address, 'pending']));
  const gasPrice = BigInt(await rpc(chain, 'eth_gasPrice'));
  const raw = await deployer.signTransaction({ type: 'eip1559', chainId, nonce, gas: 8_000_000n, data,
    maxFeePerGas: gasPrice * 2n, maxPriorityFeePerGas: 1n });
  const hash = await rpc(chain, 'eth_sendRawTransaction', [raw]);
  let rc;
  while (!(rc = await rpc(chain, 'eth_getTransactionReceipt', [hash]))) await new Promise((r) => setTimeout(r, 20));
  assert.equal(rc.status, '0x1', 'deployment reverted');
  return rc.contractAddress;
}

export async function deployUptoContracts(chain, deployer) {
  const { permit2, proxy } = compileUpto();
  // TestPermit2 has no constructor state: its code works at any address.
  const p2 = await deploy(chain, deployer, permit2.bytecode);
  await rpc(chain, 'anvil_setCode', [PERMIT2, await rpc(chain, 'eth_getCode', [p2, 'latest'])]);
  // The proxy: PERMIT2 is an immutable constructor argument = the canonical address.
  const px = await deploy(chain, deployer, encodeDeployData({ abi: proxy.abi, bytecode: proxy.bytecode, args: [PERMIT2] }));
  await rpc(chain, 'anvil_setCode', [UPTO_PROXY, await rpc(chain, 'eth_getCode', [px, 'latest'])]);
  // sanity: the canonical Permit2 domain and the proxy's Permit2
  const ds = await chain.publicClient.readContract({ address: PERMIT2, abi: permit2Abi, functionName: 'DOMAIN_SEPARATOR' });
  const want = hashDomain({ domain: { name: 'Permit2', chainId: CHAIN_ID, verifyingContract: PERMIT2 },
    types: { EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'chainId', type: 'uint256' },
      { name: 'verifyingContract', type: 'address' }] } });
  assert.equal(ds, want, 'Permit2 at its canonical address has the canonical EIP-712 domain');
  assert.equal(getAddress(await chain.publicClient.readContract({ address: UPTO_PROXY, abi: proxyAbi, functionName: 'PERMIT2' })), PERMIT2);
}

export async function signUpto(signer, accepted, over = {}) {
  const now = Math.floor(Date.now() / 1000);
  const a = {
    from: signer.address,
    permitted: { token: getAddress(over.token ?? accepted.asset), amount: String(over.amount ?? accepted.amount) },
    spender: getAddress(over.spender ?? UPTO_PROXY),
    nonce: over.nonce ?? BigInt(toHex(crypto.getRandomValues(new Uint8Array(32)))).toString(),
    deadline: String(over.deadline ?? now + 300),
    witness: { to: getAddress(over.to ?? accepted.payTo), facilitator: getAddress(over.facilitator ?? accepted.extra.facilitatorAddress),
      validAfter: String(over.validAfter ?? 0) },
  };
  const signature = await (over.key ?? signer).signTypedData({
    domain: { name: 'Permit2', chainId: CHAIN_ID, verifyingContract: PERMIT2 },
    types: UPTO_TYPES, primaryType: 'PermitWitnessTransferFrom',
    message: { permitted: { token: a.permitted.token, amount: BigInt(a.permitted.amount) }, spender: a.spender,
      nonce: BigInt(a.nonce), deadline: BigInt(a.deadline),
      witness: { ...a.witness, validAfter: BigInt(a.witness.validAfter) } },
  });
  const acc = { ...accepted, amount: a.permitted.amount };
  return { header: toB64({ x402Version: 2, accepted: acc, payload: { signature, permit2Authorization: a }, extensions: {} }), auth: a, signature };
}

