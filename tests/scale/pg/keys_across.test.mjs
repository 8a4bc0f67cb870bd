// keys_across.test.mjs — two instances on one PostgreSQL store (GR_TEST_STORE_URL,
// from tests/pg/with_pg.sh): a key created through #1's admin API works on #2
// within server.keys_refresh_ms, a revoke on #2 stops it on #1, and both
// instances' ledger rows land in the one shared ledger.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway } from '../../compat/harness.mjs';

const ADMIN = 'admin-key-pg-across-0001';
const url = process.env.GR_TEST_STORE_URL;
let gws = [];
const config = (port) => `
server: { listen: 127.0.0.1:${port}, workers: 1, keys_refresh_ms: 200 }
store: "${url}"
log: { access_log: "off", level: info }
auth: { admin_key: ${ADMIN} }
keys: [ { name: bootstrap, key: gr-bootstrapbootstrapbootstrap01 } ]
providers: [ { name: mock, kind: mock } ]
models: [ { name: m, provider: mock, model: m-1, pricing: { input: 1, output: 1 } } ]
`;

before(async () => {
  assert.ok(url && url.startsWith('postgres://'), 'GR_TEST_STORE_URL must point at the test PostgreSQL');
  gws = [await startGateway({ config }), await startGateway({ config })];
});
after(async () => { for (const g of gws) await g.stop(); });

const admin = (g, method, path, body) => fetch(`${g.base}${path}`, { method,
  headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
const ask = (g, key) => new OpenAI({ baseURL: g.baseURL, apiKey: key, maxRetries: 0 }).chat.completions
  .create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).then(() => 200, (e) => e.status);
const eventually = async (fn, want, ms = 5000) => {
  let got;
  for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 100))) if ((got = await fn()) === want) return got;
  return got;
};

test('a key created on one instance works on the other; a revoke propagates back', async () => {
  const r = await admin(gws[0], 'POST', '/admin/keys', { name: 'across' });
  assert.equal(r.status, 201);
  const created = await r.json();
  const key = created.key ?? created.data?.key;
  const id = created.id ?? created.data?.id;
  assert.equal(await ask(gws[0], key), 200);
  assert.equal(await eventually(() => ask(gws[1], key), 200), 200, 'visible on #2 after the refresh period');
  assert.equal((await admin(gws[1], 'DELETE', `/admin/keys/${id}`)).status, 200);
  assert.equal(await eventually(() => ask(gws[0], key), 401), 401, 'revoked on #1 after the refresh period');
});

test('both instances write to the one shared ledger', async () => {
  const boot = 'gr-bootstrapbootstrapbootstrap01';
  assert.equal(await ask(gws[0], boot), 200);
  assert.equal(await ask(gws[1], boot), 200);
  let total = 0;
  for (let i = 0; i < 50 && total < 4; i++) {
    const u = await (await admin(gws[1], 'GET', '/admin/usage?group_by=key')).json();
    total = u.total?.requests ?? 0;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(total >= 4, `shared ledger rows: ${total}`);
});
