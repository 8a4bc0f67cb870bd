// hints.test.mjs — circuit-breaker hints shared through Redis: once one
// instance's breaker opens for a broken deployment, the other instance stops
// sending it traffic too, without paying for failures of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { startGateway, freePort, TEST_KEY } from '../compat/harness.mjs';

let redis, redisPort, deadPort, gws = [];

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

const config = (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "off", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
redis: { url: "redis://127.0.0.1:${redisPort}/0", timeout_ms: 200 }
routing: { health: { consecutive_failures: 2, cooldown_ms: 60000 } }
providers:
  - { name: mock, kind: mock }
  - { name: dead, kind: openai, base_url: "http://127.0.0.1:${deadPort}/v1", timeouts: { connect_ms: 300 } }
models:
  - name: pair
    deployments:
      - { provider: dead, model: pair-dead }
      - { provider: mock, model: pair-live }
`;

before(async () => {
  redisPort = await freePort();
  deadPort = await freePort();
  redis = await startRedis();
  gws = [await startGateway({ config }), await startGateway({ config })];
});
after(async () => {
  for (const g of gws) await g.stop();
  redis?.kill('SIGKILL');
});

const ask = async (i) => {
  const r = await fetch(`${gws[i].baseURL}/chat/completions`, { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify({ model: 'pair', messages: [{ role: 'user', content: 'hi' }] }) });
  await r.text();
  return { status: r.status, attempts: r.headers.get('x-gaterouter-attempts') };
};

test('a breaker opened on one instance keeps the other instance away from the broken deployment', async () => {
  // Instance 0 learns the hard way: every request still succeeds (fallback to the live deployment).
  let failed = 0;
  for (let i = 0; i < 40 && failed === 0; i++) {
    const r = await ask(0);
    assert.equal(r.status, 200);
    if (r.attempts) failed++;
  }
  assert.equal(failed, 1, 'instance 0 hit the dead deployment (and retried it: two failures open the breaker)');
  const plan = async (i) => (await fetch(`${gws[i].baseURL}/route`, { method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify({ model: 'pair', messages: [{ role: 'user', content: 'hi' }] }) })).json();
  assert.match(JSON.stringify(await plan(0)), /"health":1/, 'instance 0 now skips the dead deployment');
  await new Promise((r) => setTimeout(r, 1500)); // one hint poll period
  // Instance 1 never saw a failure itself, yet never tries the dead deployment.
  const rs = [];
  for (let i = 0; i < 12; i++) rs.push(await ask(1));
  assert.ok(rs.every((r) => r.status === 200));
  assert.deepEqual(rs.filter((r) => r.attempts), [], 'no request on instance 1 paid for a failed attempt');
  assert.match(JSON.stringify(await plan(1)), /"health":1/, 'instance 1 skips it because of the hint');
});
