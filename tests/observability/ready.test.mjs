// ready.test.mjs — /ready says whether this instance can serve: the store,
// Redis (when configured) and the ledger writer. A gateway whose Redis is
// unreachable answers /health 200 but /ready 503 redis_unavailable, and
// becomes ready once Redis is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freePort, testStoreUrl, TEST_KEY, repoRoot } from '../compat/harness.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');

// A minimal RESP server: enough for a hiredis connection to count as up
// (answers +OK / :0 / $-1 to anything).
function fakeRedis(port) {
  const server = net.createServer((s) => {
    s.on('data', (d) => {
      const n = (d.toString().match(/\*\d+\r\n/g) || ['x']).length;
      s.write('+OK\r\n'.repeat(n));
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function status(base, path) {
  try {
    const r = await fetch(`${base}${path}`);
    return { code: r.status, body: await r.text() };
  } catch { return { code: 0, body: '' }; }
}

async function until(pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('/ready is 503 redis_unavailable while Redis is down, 200 once it is up; /health stays 200', async () => {
  const port = await freePort(), redisPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gr-ready-'));
  const cfg = join(dir, 'config.yaml');
  writeFileSync(cfg, `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "-", level: warn }
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
redis: { url: "redis://127.0.0.1:${redisPort}", reconnect_ms: 50 }
providers:
  - { name: mock, kind: mock }
models:
  - { name: m, provider: mock, model: mock-1 }
`);
  const proc = spawn(BIN, ['--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => { logs += d; });
  proc.stderr.on('data', (d) => { logs += d; });
  const base = `http://127.0.0.1:${port}`;
  let redis;
  try {
    const health = await until(async () => (await status(base, '/health')).code === 200, 10000);
    assert.ok(health, `gateway up:\n${logs}`);
    const down = await status(base, '/ready');
    assert.equal(down.code, 503, down.body);
    assert.equal(JSON.parse(down.body).status, 'redis_unavailable');
    redis = await fakeRedis(redisPort);
    const up = await until(async () => (await status(base, '/ready')).code === 200, 5000);
    assert.ok(up, `ready once Redis answers:\n${logs}`);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.on('exit', r));
    redis?.close();
  }
});
