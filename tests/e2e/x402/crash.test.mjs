// crash.test.mjs — no served paid request is lost or settled twice through
// crashes (issue 19). A gateway is killed with SIGKILL 0, 2, 5, 10, 25, 50 and
// 100 ms after a paid response, and once while its settlement RPC is stalled
// (eth_sendRawTransaction held by a JSON-RPC proxy in front of anvil); each
// time it restarts on the same store with the same instance id (it takes its
// previous run's jobs over at once). The last victim is left to a different
// instance, which takes its jobs over once its heartbeat is stale. The same
// for `upto` (Permit2): a job whose request's end was lost settles the
// authorised maximum, one whose end was recorded the metered amount. Then every
// served payment must be `settled` with a real, successful transaction that
// spent the authorization on chain, exactly once: payTo received exactly the
// sum, each payer's credit is granted once, no job is left pending. A SIGTERM
// while the RPC is stalled exits within drain_timeout_ms. Runs on SQLite and,
// in e2e_x402_pg, on PostgreSQL (storeDir: one database for every restart).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxUint256 } from 'viem';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, signAuth, v1Header, b64json,
  generatePrivateKey, privateKeyToAccount,
} from './lib.mjs';
import { PERMIT2, UPTO_PROXY, permit2Abi, deployUptoContracts, signUpto } from './upto_lib.mjs';

const DELAYS_MS = [0, 2, 5, 10, 25, 50, 100];
let chain, token, rpc;
const deployer = account(0), payTo = account(1), uptoPayer = account(3);
const storeDir = mkdtempSync(join(tmpdir(), 'gr-crash-'));
const gateways = [];

// A JSON-RPC proxy to anvil that can hold every call of the given methods
// (never answered while held; released on demand).
function rpcProxy(target) {
  const held = [];
  const state = { stall: new Set(), seen: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      let method = '';
      try { method = JSON.parse(body).method; } catch { /* forwarded as is */ }
      state.seen.push(method);
      const forward = async () => {
        try {
          const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text());
        } catch { res.destroy(); }
      };
      if (state.stall.has(method)) held.push({ method, forward, res });
      else await forward();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`, state, held,
    dropHeld() { for (const h of held.splice(0)) h.res.destroy(); },
    close() { this.dropHeld(); server.close(); },
  })));
}

function config(instanceId, extra = '') {
  const base = gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: rpc.url,
    relayerKey: accountKey(2), storeDir, extra: `      permit2: "${PERMIT2}"\n      upto_proxy: "${UPTO_PROXY}"\n` });
  return (port, dir) => base(port, dir).replace('x402:\n', `x402:
  instance_id: ${instanceId}
  heartbeat_interval_ms: 200
  instance_dead_after_ms: 1000
  sweep_interval_ms: 300
${extra}`).replace('  workers: 2\n', '  workers: 2\n  drain_timeout_ms: 2000\n');
}

async function start(instanceId) {
  const gw = await startGateway({ config: config(instanceId) });
  gateways.push(gw);
  return gw;
}

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  await deployUptoContracts(chain, deployer);
  await token.mint(uptoPayer.address, 100_000_000n);
  const w = chain.wallet(uptoPayer);
  await chain.publicClient.waitForTransactionReceipt({ hash: await w.writeContract({ address: token.address,
    abi: token.abi, functionName: 'approve', args: [PERMIT2, maxUint256] }) });
  rpc = await rpcProxy(chain.url);
});

after(async () => {
  for (const gw of gateways) await gw.stop('SIGKILL');
  if (rpc) rpc.close();
  if (chain) await chain.stop();
});

const body = chatBody('Crash me gently.', { max_tokens: 16 });

// One paid request by a fresh payer (its own credit to check), served: 200.
async function pay(gw) {
  const agent = privateKeyToAccount(generatePrivateKey());
  await token.mint(agent.address, 1_000_000n);
  const q = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(q.status, 402);
  const amount = BigInt((await q.json()).accepts[0].maxAmountRequired);
  const signed = await signAuth(agent, { token: token.address, to: payTo.address, value: amount });
  const r = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-payment': v1Header(signed) }, body });
  assert.equal(r.status, 200, await r.clone().text());
  await r.text();
  return { id: r.headers.get('x-request-id'), agent, amount, nonce: signed.authorization.nonce };
}

async function payment(gw, id) {
  const r = await fetch(`${gw.base}/v1/x402/payments?id=${id}`);
  return r.status === 200 ? r.json() : { state: `http ${r.status}` };
}

async function waitFinal(gw, ids, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(ids.map((id) => payment(gw, id)));
    if (all.every((p) => p.state !== 'pending' && !p.state.startsWith('http'))) return all;
    if (Date.now() > deadline) throw new Error(`not final: ${JSON.stringify(all)}\n${gw.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('kill -9 after paid responses and during a stalled RPC: every served payment settles exactly once', async () => {
  const payTo0 = await token.balanceOf(payTo.address);
  const paid = [];
  let gw = await start('crash-a');
  for (const ms of DELAYS_MS) {
    paid.push(await pay(gw));
    await new Promise((r) => setTimeout(r, ms));
    await gw.stop('SIGKILL');
    gw = await start('crash-a'); // the restart takes its previous run's jobs at once
  }
  // a stalled broadcast: the transaction is signed and persisted, then the send hangs; killed there
  await waitFinal(gw, paid.map((p) => p.id)); // the stalled send is this one's
  rpc.state.stall.add('eth_sendRawTransaction');
  const stalled = await pay(gw);
  paid.push(stalled);
  for (let i = 0; i < 200 && !rpc.held.length; i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(rpc.held.length > 0, 'the broadcast reached the stalled RPC');
  const persisted = await payment(gw, stalled.id);
  assert.match(persisted.transaction, /^0x[0-9a-f]{64}$/, 'the hash is known before the broadcast');
  await gw.stop('SIGKILL');
  rpc.dropHeld();
  rpc.state.stall.clear();
  // one more served payment, then a kill with nobody of the same id coming back:
  // another instance takes the dead one's jobs over once its heartbeat is stale
  gw = await start('crash-a');
  paid.push(await pay(gw));
  await gw.stop('SIGKILL');
  const survivor = await start('crash-b');
  const finals = await waitFinal(survivor, paid.map((p) => p.id));

  let sum = 0n;
  for (const [i, p] of paid.entries()) {
    const f = finals[i];
    assert.equal(f.state, 'settled', `${p.id}: ${JSON.stringify(f)}`);
    assert.equal(f.amount, String(p.amount));
    const rc = await chain.publicClient.getTransactionReceipt({ hash: f.transaction });
    assert.equal(rc.status, 'success', `${p.id}: its transaction succeeded`);
    assert.equal(await token.authorizationState(p.agent.address, p.nonce), true, `${p.id}: spent on chain`);
    assert.equal(await token.balanceOf(p.agent.address), 1_000_000n - p.amount, `${p.id}: paid once`);
    // credit is granted once: paid - the recorded cost (the maximum when the request's end was lost)
    const c = await (await fetch(`${survivor.base}/v1/x402/credit?address=${p.agent.address}`)).json();
    assert.equal(BigInt(c.credit_nusd), p.amount * 1000n - BigInt(f.cost_nusd), `${p.id}: credit`);
    assert.equal(c.settlements.filter((s) => s.state === 'pending').length, 0);
    sum += p.amount;
  }
  assert.equal(finals.at(-2).transaction, persisted.transaction, 'the stalled job settled with its persisted tx');
  assert.equal(await token.balanceOf(payTo.address) - payTo0, sum, 'payTo received every payment exactly once');
  assert.match(survivor.logs(), /took over settlement .* from crash-a/);
  assert.equal(await survivor.stop('SIGTERM'), 0); // (else it would take over the next tests' victims)
  for (const g of gateways)
    for (const bad of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:']) assert.ok(!g.logs().includes(bad), bad);
});

// One upto payment (hand-signed Permit2 witness authorization), served: 200;
// `metered`: what its reply says will settle.
async function payUpto(gw) {
  const q = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(q.status, 402);
  await q.text();
  const upto = b64json(q.headers.get('payment-required')).accepts.find((a) => a.scheme === 'upto');
  const { header, auth } = await signUpto(uptoPayer, upto);
  const r = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'payment-signature': header }, body });
  assert.equal(r.status, 200, await r.clone().text());
  await r.text();
  return { id: r.headers.get('x-request-id'), max: BigInt(upto.amount), nonce: BigInt(auth.nonce),
    metered: BigInt(b64json(r.headers.get('payment-response')).amount) };
}

test('upto: kill -9 after paid responses: every served payment settles once, the metered amount or (end lost) the maximum', async () => {
  const payer0 = await token.balanceOf(uptoPayer.address), payTo0 = await token.balanceOf(payTo.address);
  const paid = [];
  let gw = await start('crash-u');
  for (const ms of DELAYS_MS) {
    paid.push(await payUpto(gw));
    await new Promise((r) => setTimeout(r, ms));
    await gw.stop('SIGKILL');
    gw = await start('crash-u');
  }
  const finals = await waitFinal(gw, paid.map((p) => p.id));
  let sum = 0n, lostEnds = 0;
  for (const [i, p] of paid.entries()) {
    const f = finals[i];
    assert.equal(f.state, 'settled', `${p.id}: ${JSON.stringify(f)}`);
    assert.equal(f.scheme, 'upto');
    const amount = BigInt(f.amount);
    assert.ok(amount === p.metered || amount === p.max, `${p.id}: settled ${amount}, metered ${p.metered}, max ${p.max}`);
    if (amount !== p.metered) lostEnds++;
    const rc = await chain.publicClient.getTransactionReceipt({ hash: f.transaction });
    assert.equal(rc.status, 'success');
    const word = await chain.publicClient.readContract({ address: PERMIT2, abi: permit2Abi, functionName: 'nonceBitmap',
      args: [uptoPayer.address, p.nonce >> 8n] });
    assert.equal((word >> (p.nonce & 255n)) & 1n, 1n, `${p.id}: its Permit2 nonce is spent`);
    sum += amount;
  }
  assert.equal(payer0 - await token.balanceOf(uptoPayer.address), sum, 'the payer paid each settled amount once');
  assert.equal(await token.balanceOf(payTo.address) - payTo0, sum);
  console.log(`# upto crash: ${paid.length} payments, ${lostEnds} settled at the maximum (request end lost to the kill)`);
  assert.equal(await gw.stop('SIGTERM'), 0);
});

test('SIGTERM while the settlement RPC is stalled exits within drain_timeout_ms; the job settles after', async () => {
  const gw = await start('crash-term');
  rpc.state.stall.add('eth_sendRawTransaction');
  const p = await pay(gw);
  for (let i = 0; i < 200 && !rpc.held.length; i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(rpc.held.length > 0, 'the broadcast reached the stalled RPC');
  const t0 = Date.now();
  const code = await gw.stop('SIGTERM');
  const took = Date.now() - t0;
  assert.equal(code, 0);
  assert.ok(took < 2500, `exit took ${took} ms with drain_timeout_ms 2000`);
  rpc.dropHeld();
  rpc.state.stall.clear();
  const again = await start('crash-term');
  const [f] = await waitFinal(again, [p.id]);
  assert.equal(f.state, 'settled', JSON.stringify(f));
  assert.equal(await token.authorizationState(p.agent.address, p.nonce), true);
  await again.stop('SIGTERM');
});

test('gaterouter x402 reconcile settles a dead instance\'s job on demand, with its persisted transaction', async () => {
  const { spawn } = await import('node:child_process');
  const bin = process.env.GR_BIN || join(import.meta.dirname, '..', '..', '..', 'build', 'gaterouter');
  const gw = await start('crash-cli');
  rpc.state.stall.add('eth_sendRawTransaction');
  const p = await pay(gw);
  for (let i = 0; i < 200 && !rpc.held.length; i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(rpc.held.length > 0, 'the broadcast reached the stalled RPC');
  const persisted = await payment(gw, p.id);
  await gw.stop('SIGKILL');
  rpc.dropHeld();
  rpc.state.stall.clear();
  await new Promise((r) => setTimeout(r, 1300)); // its heartbeat is stale (instance_dead_after_ms 1000)
  // asynchronously: the RPC proxy lives in this process
  const out = await new Promise((resolve) => {
    const c = spawn(bin, ['x402', 'reconcile', '--config', join(gw.dir, 'config.yaml')]);
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /x402 reconcile: 1 settled, 0 failed, 0 expired_unsettled, 0 still pending/);
  assert.equal(await token.authorizationState(p.agent.address, p.nonce), true);
  const again = await start('crash-cli');
  const f = await payment(again, p.id);
  assert.equal(f.state, 'settled');
  assert.equal(f.transaction, persisted.transaction);
});
