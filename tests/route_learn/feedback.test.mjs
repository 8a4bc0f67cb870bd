// feedback.test.mjs — the router learns from its users (issue 18), on one
// gateway (SQLite, or PostgreSQL when GR_TEST_STORE_URL is set): ratings
// through POST /v1/feedback change auto's decision for the same prompt and
// show in /v1/route; a key rates only its own generations (no existence
// leak), the admin key any; a second rating replaces the first and counts
// once; bad bodies get OpenAI-shaped 400s; the estimates survive a restart;
// --check-config refuses what cannot work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, testStoreUrl, repoRoot } from '../compat/harness.mjs';
import { KEY_A, KEY_B, ADMIN, learnConfig, ask, rate, rateWhenLedgered, routeAuto, routeUntil } from './common.mjs';

const dir = mkdtempSync(join(tmpdir(), 'gr-learn-'));
const store = testStoreUrl(dir); // one store for both lives of the gateway
const start = () => startGateway({ config: (port) => learnConfig(port, store) });
let gw, strongBefore;
const ids = [];

before(async () => { gw = await start(); });
after(async () => { await gw?.stop(); });

test('before any rating: auto sends the coding prompt to strong, nothing learned', async () => {
  const d = await routeAuto(gw);
  assert.equal(d.chosen, 'strong');
  assert.equal(d.by.strong.learned, undefined);
  strongBefore = d.by.strong.predicted_quality;
  for (let i = 0; i < 6; i++) {
    const g = await ask(gw);
    assert.equal(g.model, 'strong');
    ids.push(g.id);
  }
});

test('bad ratings of strong move the same prompt to cheap, and /v1/route shows why', async () => {
  for (const id of ids) {
    const r = await rateWhenLedgered(gw, KEY_A, { id, score: 0, comment: 'wrong' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { object: 'feedback', id, score: 0, replaced: false, model: 'strong', learned: true });
  }
  const d = await routeUntil(gw, (x) => x.by.strong.learned?.ratings === 6, 'all 6 ratings in the snapshot');
  assert.equal(d.chosen, 'cheap');
  const l = d.by.strong.learned;
  assert.equal(l.ratings, 6);
  assert.ok(l.quality < l.prior, `learned ${l.quality} below the prior ${l.prior}`);
  assert.ok(Math.abs(l.prior - strongBefore) < 1e-9, `prior = the quality predicted before any rating, got ${l.prior}`);
  assert.equal(l.quality, d.by.strong.predicted_quality);
  assert.equal(l.rated_good, 0); // every rated answer was bad
  assert.ok(Math.abs(l.rated_predicted - strongBefore) < 1e-4, 'what the router had predicted for the rated answers');
  assert.ok(d.by.strong.predicted_quality < d.by.strong.quality_bar);
  assert.equal(d.by.cheap.learned, undefined); // cheap was never rated
});

test('a key rates only its own generations: another key gets the same 404 as an unknown id', async () => {
  const other = await rate(gw, KEY_B, { id: ids[0], score: 1 });
  const unknown = await rate(gw, KEY_B, { id: 'req_does_not_exist', score: 1 });
  assert.equal(other.status, 404);
  assert.equal(unknown.status, 404);
  assert.equal(other.json.error.code, 'generation_not_found');
  assert.equal(other.json.error.message.replace(ids[0], 'X'), unknown.json.error.message.replace('req_does_not_exist', 'X'));
  // nothing changed
  assert.equal((await routeAuto(gw)).by.strong.learned.ratings, 6);
});

test('the admin key may rate any generation; a second rating replaces the first and counts once', async () => {
  const a = await rate(gw, ADMIN, { id: ids[0], score: 0 });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  assert.equal(a.json.replaced, true);
  const again = await rate(gw, KEY_A, { id: ids[0], score: 0 });
  assert.equal(again.json.replaced, true);
  await new Promise((r) => setTimeout(r, 400)); // two refresh periods
  assert.equal((await routeAuto(gw)).by.strong.learned.ratings, 6);
});

test('replacing every bad rating with a good one takes the bad ones back: strong wins again', async () => {
  for (const id of ids) assert.equal((await rate(gw, KEY_A, { id, score: 1 })).json.replaced, true);
  const d = await routeUntil(gw, (x) => Math.abs(x.by.strong.learned?.rated_good - 1) < 1e-9, 'every rating good in the snapshot');
  assert.equal(d.chosen, 'strong');
  assert.ok(d.by.strong.learned.quality > d.by.strong.learned.prior, 'learned quality above the prior');
  assert.equal(d.by.strong.learned.ratings, 6);
  // back to bad, for the restart test
  for (const id of ids) assert.equal((await rate(gw, KEY_A, { id, score: 0 })).status, 200);
  const back = await routeUntil(gw, (x) => Math.abs(x.by.strong.learned?.rated_good) < 1e-9, 'every rating bad again');
  assert.equal(back.chosen, 'cheap');
});

test('a generation that was not an auto decision is stored but learns nothing', async () => {
  const g = await ask(gw, KEY_A, 'cheap');
  const r = await rateWhenLedgered(gw, KEY_A, { id: g.id, score: 0 });
  assert.equal(r.status, 200);
  assert.equal(r.json.learned, false);
  assert.equal(r.json.model, null);
  await new Promise((r2) => setTimeout(r2, 400));
  assert.equal((await routeAuto(gw)).by.cheap.learned, undefined);
});

test('bad bodies: OpenAI-shaped 400s naming the field; no key: 401', async () => {
  const cases = [
    [{ id: ids[0] }, 'invalid_score', 'score'],
    [{ id: ids[0], score: 1.5 }, 'invalid_score', 'score'],
    [{ id: ids[0], score: -0.1 }, 'invalid_score', 'score'],
    [{ id: ids[0], score: '1' }, 'invalid_score', 'score'],
    [{ score: 1 }, 'invalid_id', 'id'],
    [{ id: '', score: 1 }, 'invalid_id', 'id'],
    [{ id: 'x'.repeat(64), score: 1 }, 'invalid_id', 'id'],
    [{ id: ids[0], score: 1, rating: 5 }, 'unknown_parameter', 'rating'],
    [{ id: ids[0], score: 1, comment: 'x'.repeat(65) }, 'invalid_comment', 'comment'],
    [{ id: ids[0], score: 1, comment: 7 }, 'invalid_comment', 'comment'],
  ];
  for (const [payload, code, param] of cases) {
    const r = await rate(gw, KEY_A, payload);
    assert.equal(r.status, 400, JSON.stringify(payload));
    assert.equal(r.json.error.code, code, JSON.stringify(payload));
    assert.equal(r.json.error.param, param);
    assert.equal(r.json.error.type, 'invalid_request_error');
  }
  for (const raw of ['not json', '[1,2]', '']) {
    const r = await rate(gw, KEY_A, null, raw);
    assert.equal(r.status, 400, raw);
    assert.equal(r.json.error.code, 'invalid_json');
  }
  const anon = await rate(gw, null, { id: ids[0], score: 1 });
  assert.equal(anon.status, 401);
  const get = await fetch(`${gw.base}/v1/feedback`, { headers: { authorization: `Bearer ${KEY_A}` } });
  assert.equal(get.status, 405);
});

test('the learned estimates survive a restart (read from the store at start)', async () => {
  await gw.stop();
  gw = await start();
  const d = await routeAuto(gw); // no polling: loaded before the gateway is ready
  assert.equal(d.chosen, 'cheap');
  assert.equal(d.by.strong.learned.ratings, 6);
});

test('`route --explain` prints the learned estimate', async () => {
  const cfg = join(dir, 'explain.yaml');
  writeFileSync(cfg, learnConfig(1, store));
  const req = join(dir, 'req.json');
  writeFileSync(req, JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'Write a Python function that parses a CSV file and returns the rows as dicts, handling quoted fields.' }] }));
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const r = spawnSync(bin, ['route', '--config', cfg, '--explain', req], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /strong .*learned: 0\.\d\d from 6 ratings \(prior 0\.\d\d; rated answers 0\.00 good where 0\.\d\d was predicted\)/);
});

test('--check-config refuses learning settings that cannot work', () => {
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const bad = [
    ['{ enabled: true, prior_strength: 0 }', /routing\.auto\.learning\.prior_strength/],
    ['{ enabled: true, refresh_ms: 5 }', /routing\.auto\.learning\.refresh_ms/],
    ['{ enabeld: true }', /routing\.auto\.learning\.enabeld: unknown key.*enabled/],
    ['{ max_comment_bytes: 1MiB }', /routing\.auto\.learning\.max_comment_bytes/],
    ['[on]', /routing\.auto\.learning/],
  ];
  for (const [learning, want] of bad) {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, learnConfig(1, 'sqlite://:memory:', learning));
    const r = spawnSync(bin, ['--check-config', cfg], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, learning);
    assert.match(r.stderr + r.stdout, want, learning);
  }
  const cfg = join(dir, 'good.yaml');
  writeFileSync(cfg, learnConfig(1, 'sqlite://:memory:'));
  const ok = spawnSync(bin, ['--check-config', cfg], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
});
