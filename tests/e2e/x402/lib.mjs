// lib.mjs — shared fixtures of the x402 end-to-end suite: a local chain
// (anvil from the npm package @foundry-rs/anvil, 127.0.0.1 only, free port,
// killed after), the EIP-3009 test token compiled with npm solc and deployed
// with viem, funded wallets, a GateRouter with an `x402:` section in front of
// the built-in mock provider, and helpers to sign payments by hand for the
// rejection tests.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createPublicClient, createWalletClient, http, defineChain, getAddress, toHex,
} from 'viem';
import { mnemonicToAccount, privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { freePort, startGateway, testStoreUrl } from '../../compat/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const CHAIN_ID = 84532; // base-sepolia: a v1 network name the official v1 client knows
export const MNEMONIC = 'test test test test test test test test test test test junk'; // anvil's default
export const TOKEN_NAME = 'USDC';
export const TOKEN_VERSION = '2';

export function account(i) { return mnemonicToAccount(MNEMONIC, { addressIndex: i }); }
export function accountKey(i) { return toHex(account(i).getHdKey().privateKey); }
export { privateKeyToAccount, generatePrivateKey };

function anvilBinary() {
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'anvil');
}

export async function startAnvil() {
  const port = await freePort();
  const proc = spawn(anvilBinary(), ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(CHAIN_ID),
    '--silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => { logs += d; });
  proc.stderr.on('data', (d) => { logs += d; });
  const url = `http://127.0.0.1:${port}`;
  const chain = defineChain({
    id: CHAIN_ID, name: 'anvil-base-sepolia', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`anvil exited early (${proc.exitCode}): ${logs}`);
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) });
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`anvil did not start: ${logs}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  const publicClient = createPublicClient({ chain, transport: http(url) });
  return {
    url, port, chain, proc, publicClient,
    wallet(acct) { return createWalletClient({ account: acct, chain, transport: http(url) }); },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.on('exit', r));
    },
  };
}

let compiled;
export function compileToken() {
  if (compiled) return compiled;
  const solc = require('solc');
  const source = readFileSync(join(here, 'contracts', 'TestUSDC.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'TestUSDC.sol': { content: source } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['TestUSDC.sol'].TestUSDC;
  compiled = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  return compiled;
}

export async function deployToken(chain, deployer) {
  const { abi, bytecode } = compileToken();
  const w = chain.wallet(deployer);
  const hash = await w.deployContract({ abi, bytecode, args: [TOKEN_NAME, TOKEN_VERSION] });
  const rc = await chain.publicClient.waitForTransactionReceipt({ hash });
  const address = getAddress(rc.contractAddress);
  return {
    address, abi,
    async mint(to, amount) {
      const h = await w.writeContract({ address, abi, functionName: 'mint', args: [to, amount] });
      await chain.publicClient.waitForTransactionReceipt({ hash: h });
    },
    balanceOf(who) { return chain.publicClient.readContract({ address, abi, functionName: 'balanceOf', args: [who] }); },
    authorizationState(who, nonce) {
      return chain.publicClient.readContract({ address, abi, functionName: 'authorizationState', args: [who, nonce] });
    },
  };
}

// Prices chosen so a quote is ~0.01 USDC: under the official clients' default
// caps (v1 0.10 USDC, v2 $1) and large enough that credit is visible.
// The store is SQLite in the gateway's dir (or storeDir), or, with
// GR_TEST_STORE_URL set (CTest e2e_x402_pg), a PostgreSQL database named
// after that dir: fresh per gateway, the same one again for the same storeDir.
export function gatewayConfig({ token, payTo, rpcUrl, relayerKey, settle = 'self', facilitatorUrl, extra = '', storeDir }) {
  return (port, dir) => `
store: "${testStoreUrl(storeDir || dir)}"
server:
  listen: 127.0.0.1:${port}
  workers: 2
log:
  access_log: "off"
  level: info
auth:
  keys: [ { name: test, key: sk-test-x402-0001 } ]
  admin_key: adm-test-x402-0001
providers:
  - name: mock
    kind: mock
models:
  - name: mock-gpt
    provider: mock
    model: mock-gpt-1
    pricing: { input: 2.50, output: 10.00 }
    capabilities: [chat, tools, json, stream, completions]
  - name: free-model
    provider: mock
    model: mock-free
    capabilities: [chat, stream]
x402:
  settle: ${settle}
  default_max_tokens: 1000
  networks:
    - network: base-sepolia
      asset: "${token}"
      name: ${TOKEN_NAME}
      version: "${TOKEN_VERSION}"
      pay_to: "${payTo}"
      max_timeout_seconds: 300
${rpcUrl ? `      rpc_url: ${rpcUrl}\n` : ''}${relayerKey ? `      relayer_key: "${relayerKey}"\n` : ''}${facilitatorUrl ? `      facilitator_url: ${facilitatorUrl}\n` : ''}${extra}`;
}

export { startGateway };

export const chatBody = (content = 'Say hello in five words.', extra = {}) =>
  JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content }], ...extra });

export function b64json(s) { return JSON.parse(Buffer.from(s, 'base64').toString('utf8')); }
export function toB64(o) { return Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64'); }

// "0.0012" USD text -> nano-USD BigInt, exactly
export function usdToNusd(s) {
  const [i, f = ''] = String(s).split('.');
  return BigInt(i) * 1000000000n + BigInt((f + '000000000').slice(0, 9));
}

export const TWA_TYPES = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' }, { name: 'to', type: 'address' }, { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' }, { name: 'validBefore', type: 'uint256' }, { name: 'nonce', type: 'bytes32' },
  ],
};

export function randomNonce() {
  return toHex(crypto.getRandomValues(new Uint8Array(32)));
}

// Signs an EIP-3009 authorization like the official clients do.
export async function signAuth(signer, { token, to, value, validAfter, validBefore, nonce, chainId = CHAIN_ID,
  name = TOKEN_NAME, version = TOKEN_VERSION }) {
  const now = Math.floor(Date.now() / 1000);
  const authorization = {
    from: signer.address, to: getAddress(to), value: String(value),
    validAfter: String(validAfter ?? now - 600), validBefore: String(validBefore ?? now + 300),
    nonce: nonce ?? randomNonce(),
  };
  const signature = await signer.signTypedData({
    domain: { name, version, chainId, verifyingContract: getAddress(token) },
    types: TWA_TYPES, primaryType: 'TransferWithAuthorization',
    message: { ...authorization, value: BigInt(authorization.value), validAfter: BigInt(authorization.validAfter),
      validBefore: BigInt(authorization.validBefore) },
  });
  return { authorization, signature };
}

export function v1Header(payload, network = 'base-sepolia') {
  return toB64({ x402Version: 1, scheme: 'exact', network, payload });
}

export function v2Header(payload, accepted, resource) {
  return toB64({ x402Version: 2, resource, accepted, payload, extensions: {} });
}

// Polls the credit endpoint until the settlement of requestId leaves "pending".
export async function waitSettlement(base, address, requestId, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${base}/v1/x402/credit?address=${address}`);
    const j = await r.json();
    const s = (j.settlements || []).find((x) => x.request_id === requestId);
    if (s && s.state !== 'pending') return { credit: j, settlement: s };
    if (Date.now() > deadline) throw new Error(`settlement of ${requestId} still pending: ${JSON.stringify(j)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

// The gateway's own log must show no sanitizer report and no lost ledger update.
export function assertCleanLogs(logs) {
  for (const bad of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'ledger row', 'cannot record']) {
    if (logs.includes(bad)) throw new Error(`gateway log contains "${bad}":\n${logs.slice(-4000)}`);
  }
}

// The request's ledger row, through the admin API (GET /admin/generation).
export async function ledgerRow(base, requestId) {
  const r = await fetch(`${base}/admin/generation?id=${requestId}`, { headers: { authorization: 'Bearer adm-test-x402-0001' } });
  if (r.status !== 200) throw new Error(`generation ${requestId}: ${r.status} ${await r.text()}`);
  return (await r.json()).data;
}
