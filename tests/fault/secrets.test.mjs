// secrets.test.mjs — secrets never leave the gateway (docs/SECURITY.md):
// the provider api_key, the admin key and client keys must not appear in the
// access log, the operational log (stderr), /metrics, or any error body —
// including error bodies of an upstream that echoes the credentials it got.
// Also: the admin API is off (404) without an admin key, and answers 401 to a
// wrong one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFlaky, closedPort } from './flaky_upstream.mjs';
import { startGateway, faultConfig, post, postStream, chatBody, PROVIDER_SECRET, ADMIN_SECRET, TEST_KEY, sleep } from './common.mjs';
import { defaultConfig } from '../compat/harness.mjs';

let up, gw;
const bodies = [];
before(async () => {
  up = await startFlaky();
  gw = await startGateway({ config: faultConfig({ upstreamPort: up.port, deadPort: await closedPort(), scenarios: up.scenarios }) });
});
after(async () => { await gw.stop(); await up.stop(); });

const leaks = (text) => [PROVIDER_SECRET, ADMIN_SECRET, TEST_KEY].filter((s) => text.includes(s));

test('traffic of every kind, including admin calls and wrong keys', async () => {
  for (const m of ['f-ok_json', 'f-refused', 'f-storm_5xx', 'f-stall_first_byte', 'f-rate_limited']) bodies.push((await post(gw.base, chatBody(m))).text);
  bodies.push((await postStream(gw.base, 'f-ok_stream')).raw);
  bodies.push((await post(gw.base, chatBody('f-ok_json'), { headers: { authorization: `Bearer ${TEST_KEY}-wrong` } })).text);
  bodies.push((await post(gw.base, chatBody('f-ok_json'), { headers: { authorization: `Bearer ${ADMIN_SECRET}` } })).text);
  const adm = await fetch(`${gw.base}/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_SECRET}` } });
  assert.equal(adm.status, 200, 'admin API on with the admin key');
  bodies.push(await adm.text());
  const bad = await fetch(`${gw.base}/admin/keys`, { headers: { authorization: `Bearer ${ADMIN_SECRET}x` } });
  assert.equal(bad.status, 401, 'wrong admin key -> 401');
  bodies.push(await bad.text());
  const created = await fetch(`${gw.base}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_SECRET}` }, body: '{"name":"s1"}' });
  assert.equal(created.status, 201);
});

test('an upstream that echoes the gateway credentials in its error does not leak them to the client', async () => {
    for (const m of ['f-leak_auth', 'f-leak_auth_500']) {
      const r = await post(gw.base, chatBody(m));
      assert.ok(r.status >= 400);
      assert.deepEqual(leaks(r.text), [], `error body of ${m} must not contain a secret: ${r.text.slice(0, 300)}`);
    }
  });

test('no secret in the access log, the operational log or /metrics', async () => {
  await sleep(200);
  const access = readFileSync(join(gw.dir, 'access.log'), 'utf8');
  const metrics = await (await fetch(`${gw.base}/metrics`)).text();
  assert.ok(access.split('\n').length > 10, 'access log written');
  assert.deepEqual(leaks(access), [], 'access log');
  assert.deepEqual(leaks(gw.logs()), [], 'stderr / stdout');
  assert.deepEqual(leaks(metrics), [], '/metrics');
  for (const b of bodies) assert.deepEqual(leaks(b), [], `response body: ${b.slice(0, 200)}`);
});

test('admin API is off (404) when no admin key is configured', async () => {
  const g = await startGateway({ config: (p, dir) => defaultConfig(p, '', dir) });
  try {
    for (const auth of ['', 'Bearer anything', `Bearer ${ADMIN_SECRET}`]) {
      const r = await fetch(`${g.base}/admin/keys`, { headers: auth ? { authorization: auth } : {} });
      assert.equal(r.status, 404);
    }
  } finally { await g.stop(); }
});
