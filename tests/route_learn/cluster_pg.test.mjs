// cluster_pg.test.mjs — two gateways on one PostgreSQL store share what auto
// learns: ratings taken by either instance (also of a generation the other
// one served) reach both instances' decisions within refresh_ms, and the
// same generation rated concurrently through both counts once. Needs
// GR_TEST_STORE_URL (tests/pg/with_pg.sh); fails without it, never skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, testStoreUrl } from '../compat/harness.mjs';
import { KEY_A, learnConfig, ask, rate, rateWhenLedgered, routeAuto, routeUntil } from './common.mjs';

let a, b;
const ids = [];

before(async () => {
  assert.ok(process.env.GR_TEST_STORE_URL?.startsWith('postgres'), 'GR_TEST_STORE_URL must point at the test PostgreSQL');
  const url = testStoreUrl(mkdtempSync(join(tmpdir(), 'gr-learn-pg-'))); // a fresh database for this suite
  a = await startGateway({ config: (port) => learnConfig(port, url) });
  b = await startGateway({ config: (port) => learnConfig(port, url) });
});
after(async () => { await a?.stop(); await b?.stop(); });

test('ratings on either instance change both instances\' decisions', async () => {
  assert.equal((await routeAuto(a)).chosen, 'strong');
  assert.equal((await routeAuto(b)).chosen, 'strong');
  for (let i = 0; i < 6; i++) ids.push((await ask(i % 2 ? b : a)).id);
  // each instance rates generations the other one served too
  for (let i = 0; i < 6; i++) {
    const r = await rateWhenLedgered(i < 3 ? a : b, KEY_A, { id: ids[i], score: 0 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.learned, true);
  }
  for (const g of [a, b]) {
    const d = await routeUntil(g, (x) => x.chosen === 'cheap' && x.by.strong.learned?.ratings === 6,
      `instance ${g === a ? 'A' : 'B'} learned all 6 ratings`);
    assert.ok(d.by.strong.learned.quality < d.by.strong.learned.prior);
  }
});

test('one generation rated concurrently through both instances counts once', async () => {
  const calls = [];
  for (let i = 0; i < 10; i++) for (const g of [a, b]) calls.push(rate(g, KEY_A, { id: ids[0], score: i % 2 }));
  const res = await Promise.all(calls);
  for (const r of res) assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok(res.every((r) => r.json.replaced), 'every one of them replaced an earlier rating');
  const last = await rate(a, KEY_A, { id: ids[0], score: 0 }); // settle on one known value
  assert.equal(last.json.replaced, true);
  await new Promise((r) => setTimeout(r, 500)); // two refresh periods
  for (const g of [a, b]) {
    const l = (await routeAuto(g)).by.strong.learned;
    assert.equal(l.ratings, 6);
    assert.ok(Math.abs(l.rated_good) < 1e-9, `no good rating left over from the race (rated_good ${l.rated_good})`);
  }
});
