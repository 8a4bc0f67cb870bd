// alerts.test.mjs — webhook alerts against a local receiver that checks every
// delivery's X-GateRouter-Signature (HMAC-SHA256 of "<t>.<body>"): a key
// crossing 50/80/100 % of its budget, a breaker opening and closing, the
// ledger falling behind; retries with growing gaps; a pending alert delivered
// once after kill -9 and restart; a delivered one not repeated after a restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, testStoreUrl, TEST_KEY } from '../compat/harness.mjs';
import { SECRET, startReceiver as startRx } from './webhook_receiver.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.close(); });

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function startReceiver(opts) {
  const rx = await startRx(opts);
  servers.push(rx);
  return rx;
}

// An OpenAI-compatible upstream that fails (500) while `failing`.
async function startUpstream() {
  const state = { failing: false };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (state.failing) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'c', object: 'chat.completion', created: 1, model: 'up',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
      }));
    });
  });
  const port = await listen(server);
  const handle = { state, baseURL: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
  servers.push(handle);
  return handle;
}

const config = ({ rx, up, store, alerts = '', extra = '' }) => (port, dir) => `
store: "${store || testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "-", level: info }
auth:
  keys: [ { name: ops, key: ${TEST_KEY} } ]
keys:
  - { name: capped, key: sk-capped-key-000000000000001, budget_usd: 0.03 }
providers:
  - { name: up, kind: openai, base_url: "${up.baseURL}", api_key: x }
models:
  - { name: m1, provider: up, model: up-model, pricing: { input: 0, output: 0, per_request: 0.01 } }
routing:
  health: { consecutive_failures: 2, cooldown_ms: 300 }
${extra}
alerts:
  url: ${rx.url}
  secret: ${SECRET}
  retry_base_ms: 100
  retry_max_ms: 2s
${alerts}
`;

async function chat(gw, key = TEST_KEY) {
  const r = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await r.text();
  return r.status;
}

async function exportCount(gw, result) {
  const text = await (await fetch(`${gw.base}/metrics`)).text();
  const m = text.match(new RegExp(`gaterouter_export_records_total\\{sink="alerts",result="${result}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
}

const budgetAlerts = (rx) => rx.alerts.filter((a) => a.body.type === 'budget.threshold').map((a) => a.body.data.threshold_pct).sort((a, b) => a - b);

test('a key crossing 50, 80 and 100 % of its budget: one signed alert per threshold', async () => {
  const rx = await startReceiver(), up = await startUpstream();
  const gw = await startGateway({ config: config({ rx, up }) });
  try {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await chat(gw, 'sk-capped-key-000000000000001'));
    assert.deepEqual(statuses, [200, 200, 200, 402], 'three requests fit the budget, the fourth is refused');
    await rx.waitFor((a) => a.body.data?.threshold_pct === 100);
    await new Promise((r) => setTimeout(r, 300)); // nothing more comes
    assert.deepEqual(budgetAlerts(rx), [50, 80, 100]);
    const a50 = rx.alerts.find((a) => a.body.data.threshold_pct === 50).body;
    assert.equal(a50.id, 'budget:cfg_capped:total:all:50');
    assert.equal(a50.data.key_name, 'capped');
    assert.equal(a50.data.budget, 'total');
    assert.equal(a50.data.budget_usd, '0.030000000');
    assert.equal(a50.data.spent_usd, '0.020000000');
    assert.match(a50.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const h = rx.alerts[0].headers;
    assert.equal(h['x-gaterouter-event'], 'budget.threshold');
    assert.equal(h['x-gaterouter-event-id'], rx.alerts[0].body.id);
    assert.deepEqual(rx.bad, [], 'every delivery carries a valid signature');
    assert.equal(await exportCount(gw, 'exported'), 3);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('a breaker opening and closing: breaker.opened, then breaker.closed', async () => {
  const rx = await startReceiver(), up = await startUpstream();
  const gw = await startGateway({ config: config({ rx, up }) });
  try {
    up.state.failing = true;
    for (let i = 0; i < 3; i++) await chat(gw);
    const opened = await rx.waitFor((a) => a.body.type === 'breaker.opened');
    assert.equal(opened.length, 1);
    assert.equal(opened[0].body.data.deployment, 'up/up-model');
    up.state.failing = false;
    await new Promise((r) => setTimeout(r, 400)); // cooldown: half-open
    assert.equal(await chat(gw), 200); // the probe succeeds: closed
    const closed = await rx.waitFor((a) => a.body.type === 'breaker.closed');
    assert.equal(closed.length, 1);
    assert.equal(closed[0].body.data.deployment, 'up/up-model');
    assert.notEqual(closed[0].body.id, opened[0].body.id);
    assert.deepEqual(rx.bad, []);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('a receiver failing the first 3 attempts: retried with growing gaps, delivered once', async () => {
  const rx = await startReceiver({ failFirst: 3 }), up = await startUpstream();
  const gw = await startGateway({ config: config({ rx, up }) });
  try {
    await chat(gw, 'sk-capped-key-000000000000001');
    await chat(gw, 'sk-capped-key-000000000000001'); // 66 %: the 50 % alert
    const got = await rx.waitFor((a) => a.body.data?.threshold_pct === 50);
    assert.equal(got.length, 1);
    const tries = rx.attempts.filter((a) => a.body?.id === got[0].body.id);
    assert.equal(tries.length, 4, 'three failures and the success');
    const gaps = tries.slice(1).map((t, i) => t.at - tries[i].at);
    // back-off 100, 200, 400 ms, each drawn in [half, full]: every gap at least the previous one's floor
    assert.ok(gaps[0] >= 40 && gaps[1] >= 90 && gaps[2] >= 190, `gaps ${gaps}`);
    assert.ok(gaps[2] > gaps[0], `gaps grow: ${gaps}`);
    assert.equal(new Set(tries.map((t) => t.body.id)).size, 1, 'the same event id on every attempt');
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('kill -9 with an alert pending: delivered exactly once after the restart', async () => {
  const rx = await startReceiver({ failAlways: true }), up = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'gr-alerts-'));
  const store = testStoreUrl(dir);
  let gw = await startGateway({ config: config({ rx, up, store }) });
  await chat(gw, 'sk-capped-key-000000000000001');
  await chat(gw, 'sk-capped-key-000000000000001');
  const end = Date.now() + 10000;
  while (!rx.attempts.some((a) => a.body?.data?.threshold_pct === 50) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.ok(rx.attempts.length >= 1, 'the alert was tried and failed');
  await gw.stop('SIGKILL');
  rx.rx.failAlways = false;
  gw = await startGateway({ config: config({ rx, up, store }) });
  try {
    const got = await rx.waitFor((a) => a.body.data?.threshold_pct === 50);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(rx.alerts.filter((a) => a.body.id === got[0].body.id).length, 1, 'delivered once');
    assert.match(gw.logs(), /1 alert\(s\) left pending by a previous run/);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('a delivered alert is not repeated after a restart (the outbox dedupes)', async () => {
  const rx = await startReceiver(), up = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'gr-alerts-'));
  const store = testStoreUrl(dir);
  let gw = await startGateway({ config: config({ rx, up, store }) });
  await chat(gw, 'sk-capped-key-000000000000001');
  await chat(gw, 'sk-capped-key-000000000000001');
  await rx.waitFor((a) => a.body.data?.threshold_pct === 50);
  assert.equal(await gw.stop(), 0);
  gw = await startGateway({ config: config({ rx, up, store }) });
  try {
    // the spend is back from the ledger: the next request is over 50 % again (and reaches 100 %)
    await chat(gw, 'sk-capped-key-000000000000001');
    await rx.waitFor((a) => a.body.data?.threshold_pct === 100);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(budgetAlerts(rx), [50, 80, 100], 'the 50 % alert once, across both runs');
    assert.ok(await exportCount(gw, 'deduplicated') >= 1, 'the repeat was recognised');
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('the ledger falling behind: ledger.behind once per episode', async () => {
  const rx = await startReceiver(), up = await startUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'gr-alerts-'));
  const store = `sqlite://${dir}/gaterouter.db`;
  const gw = await startGateway({ config: config({ rx, up, store, alerts: '  ledger_behind_rows: 3\n  ledger_check_ms: 50\n' }) });
  // another process holds the database's write lock: the ledger writer cannot commit
  const lock = spawn('sqlite3', [join(dir, 'gaterouter.db')], { stdio: ['pipe', 'ignore', 'ignore'] });
  lock.stdin.write('BEGIN EXCLUSIVE;\n');
  try {
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 6; i++) assert.equal(await chat(gw), 200);
    const got = await rx.waitFor((a) => a.body.type === 'ledger.behind', 20000);
    assert.equal(got.length, 1);
    assert.ok(got[0].body.data.backlog >= 3, JSON.stringify(got[0].body));
    assert.equal(got[0].body.data.bound, 3);
  } finally {
    lock.stdin.end('ROLLBACK;\n');
    await new Promise((r) => lock.on('exit', r));
    assert.equal(await gw.stop(), 0);
  }
});

test('a full alert queue: new alerts are dropped and counted, requests unaffected', async () => {
  const rx = await startReceiver({ failAlways: true }), up = await startUpstream();
  const gw = await startGateway({ config: config({ rx, up, alerts: '  queue_max: 1\n' }) });
  try {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await chat(gw, 'sk-capped-key-000000000000001'));
    assert.deepEqual(statuses, [200, 200, 200]);
    const end = Date.now() + 5000;
    while (await exportCount(gw, 'dropped') < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await exportCount(gw, 'dropped'), 2, 'the 80 and 100 % alerts found the queue full (the 50 % one retrying)');
    assert.ok(rx.attempts.every((a) => a.body.data.threshold_pct === 50));
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('--check-config refuses a missing or short secret and bad thresholds', async () => {
  const { execFileSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const bin = process.env.GR_BIN || join(process.cwd(), 'build', 'gaterouter');
  const dir = mkdtempSync(join(tmpdir(), 'gr-alerts-'));
  const cases = [
    ['  url: http://127.0.0.1:9/h\n  secret: short\n', /alerts\.secret/],
    ['  url: http://127.0.0.1:9/h\n', /alerts\.secret/],
    ['  secret: 0123456789abcdef0\n', /alerts\.url/],
    ['  url: http://127.0.0.1:9/h\n  secret: 0123456789abcdef0\n  budget_thresholds: "50,abc"\n', /alerts\.budget_thresholds/],
    ['  url: http://127.0.0.1:9/h\n  secret: 0123456789abcdef0\n  budget_thresholds: "80,80"\n', /listed twice/],
  ];
  for (const [sec, re] of cases) {
    const path = join(dir, 'c.yaml');
    writeFileSync(path, `providers:\n  - { name: mock, kind: mock }\nmodels:\n  - { name: m, provider: mock, model: mock-1 }\nalerts:\n${sec}`);
    let out = '', code = 0;
    try { execFileSync(bin, ['--check-config', path], { stdio: 'pipe' }); } catch (e) { code = e.status; out = String(e.stderr) + String(e.stdout); }
    assert.notEqual(code, 0, sec);
    assert.match(out, re);
  }
});
