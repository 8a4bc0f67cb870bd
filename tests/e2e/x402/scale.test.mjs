// scale.test.mjs — x402 on two GateRouter instances sharing a real Redis (and,
// in the PostgreSQL variant, one database): the same payment sent to both
// instances concurrently 50 times is served and settled exactly once (the
// nonce is claimed cluster-wide with SET NX).
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, signAuth, v1Header,
  waitSettlement, assertCleanLogs,
} from './lib.mjs';
import { freePort } from '../../compat/harness.mjs';

let chain, token, redis, redisPort, gws = [];
const deployer = account(0), payTo = account(1), agent = account(7);

async function startRedis() {
  const proc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(redisPort, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) return proc;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not start');
}

before(async () => {
  redisPort = await freePort();
  redis = await startRedis();
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  await token.mint(agent.address, 10_000_000n);
  // On PostgreSQL (GR_TEST_STORE_URL, CTest e2e_x402_pg) both instances share
  // one database, as a cluster does (its x402_nonces key guards too); on
  // SQLite each has its own file, so Redis alone is the cluster-wide guard.
  const storeDir = process.env.GR_TEST_STORE_URL ? mkdtempSync(join(tmpdir(), 'gr-x402-scale-')) : undefined;
  const base = gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url, relayerKey: accountKey(2),
    storeDir });
  const config = (port, dir) => `${base(port, dir)}\nredis: { url: "redis://127.0.0.1:${redisPort}/0", timeout_ms: 500 }\n`;
  gws = [await startGateway({ config }), await startGateway({ config })];
});

after(async () => {
  for (const g of gws) { await g.stop(); assertCleanLogs(g.logs()); }
  redis?.kill('SIGKILL');
  await chain?.stop?.();
});

test('one payment, 50 concurrent copies across two instances -> exactly one served and settled', async () => {
  const body = chatBody('once across the cluster', { max_tokens: 32 });
  const q = await fetch(`${gws[0].baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(q.status, 402);
  const amount = BigInt((await q.json()).accepts[0].maxAmountRequired);
  const h = { 'content-type': 'application/json',
    'x-payment': v1Header(await signAuth(agent, { token: token.address, to: payTo.address, value: amount })) };
  const before = await token.balanceOf(agent.address);
  const rs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    fetch(`${gws[i % 2].baseURL}/chat/completions`, { method: 'POST', headers: h, body })
      .then(async (r) => ({ s: r.status, id: r.headers.get('x-request-id'), gw: i % 2, b: await r.text() }))));
  const ok = rs.filter((r) => r.s === 200);
  assert.equal(ok.length, 1, `statuses: ${rs.map((r) => r.s).join(',')}`);
  assert.ok(rs.every((r) => r.s === 200 || r.s === 402), `unexpected: ${rs.map((r) => r.s).join(',')}`);
  await waitSettlement(gws[ok[0].gw].base, agent.address, ok[0].id);
  const after = await token.balanceOf(agent.address);
  assert.equal(before - after, amount, 'the payer paid exactly once');
});
