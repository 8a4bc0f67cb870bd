// request_ids.test.mjs — the ledger's identity is the gateway's (issue #16.3):
// ten requests sent with one client X-Request-Id leave ten ledger rows, each
// under its own gateway id, with the client's id kept beside it and echoed
// back; after a restart the key's spend and usage equal the sum of what was
// served. Fails on a gateway that keys the ledger by the client's id.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';

const ADMIN = 'admin-key-request-ids-0001';
let dir = null;
const config = (port, d) => {
  dir = dir ?? d;
  return `
server: { listen: 127.0.0.1:${port}, workers: 2 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "off", level: info }
auth: { admin_key: ${ADMIN} }
providers: [ { name: mock, kind: mock } ]
models: [ { name: m, provider: mock, model: m-1, pricing: { input: 1, output: 10 } } ]
`;
};
let gw;
after(async () => { await gw?.stop(); });

const admin = (g, method, path, body) => fetch(`${g.base}${path}`, { method,
  headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
const chat = (g, key, rid) => fetch(`${g.baseURL}/chat/completions`, { method: 'POST',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(rid ? { 'x-request-id': rid } : {}) },
  body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 }) });
const waitFor = async (fn, ms = 5000) => {
  let v;
  for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 50))) if ((v = await fn())) return v;
  return v;
};

test('ten requests with one X-Request-Id: ten rows, the client id echoed and kept, spend exact after a restart', async () => {
  gw = await startGateway({ config });
  const created = await (await admin(gw, 'POST', '/admin/keys', { name: 'rid', budget_usd: '10' })).json();
  assert.ok(created.key && created.id, `key created: ${JSON.stringify(created)}`);

  const gatewayIds = new Set();
  let cost = 0;
  for (let i = 0; i < 10; i++) {
    const r = await chat(gw, created.key, 'client-chosen-id');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-request-id'), 'client-chosen-id', 'the client id is echoed as before');
    const gid = r.headers.get('x-gaterouter-request-id');
    assert.match(gid ?? '', /^req_[0-9a-f]{29,}$/, 'the gateway id is sent back');
    gatewayIds.add(gid);
    cost += (await r.json()).usage.cost;
  }
  assert.equal(gatewayIds.size, 10, 'one gateway id per request');
  // no client id: the echoed id is the gateway's own
  const plain = await chat(gw, created.key);
  assert.equal(plain.headers.get('x-request-id'), plain.headers.get('x-gaterouter-request-id'));
  cost += (await plain.json()).usage.cost;

  const usage = async () => (await (await admin(gw, 'GET', `/admin/usage?group_by=key&key_id=${created.id}`)).json()).total;
  const u = await waitFor(async () => { const t = await usage(); return t.requests >= 11 ? t : null; });
  assert.equal(u?.requests, 11, 'one ledger row per served request');

  // each row is found by its gateway id, and carries the client's id
  const g = await (await admin(gw, 'GET', `/admin/generation?id=${[...gatewayIds][3]}`)).json();
  assert.equal(g.data.id, [...gatewayIds][3]);
  assert.equal(g.data.client_request_id, 'client-chosen-id');
  // a lookup by the client's id finds its newest row
  const byClient = await (await admin(gw, 'GET', '/admin/generation?id=client-chosen-id')).json();
  assert.equal(byClient.data.client_request_id, 'client-chosen-id');

  const metrics = await (await fetch(`${gw.base}/metrics`)).text();
  assert.match(metrics, /^gaterouter_ledger_conflicts_total 0$/m, 'no ledger conflict');

  // After a restart, spend and usage come from the store alone.
  assert.equal(await gw.stop(), 0);
  gw = await startGateway({ config });
  const k = await (await fetch(`${gw.baseURL}/key`, { headers: { authorization: `Bearer ${created.key}` } })).json();
  const info = k.data ?? k;
  assert.equal(info.spend.requests, 11, 'requests after restart');
  assert.ok(Math.abs(Number(info.spend.total_usd) - cost) < 1e-9, `spend after restart ${info.spend.total_usd} = served ${cost}`);
  const u2 = await usage();
  assert.equal(u2.requests, 11);
  assert.ok(Math.abs(Number(u2.cost_usd) - cost) < 1e-9, `usage cost ${u2.cost_usd} = served ${cost}`);
});
