// calibrate.test.mjs — `gaterouter route calibrate FILE.jsonl`: the ratings'
// update offline, into the same store the gateway reads. Outcomes where the
// strong model fails coding prompts and the cheap one passes move `auto` to
// cheap for a coding prompt (route --explain, and a gateway started on the
// store); --dry-run writes nothing; bad lines are refused with their number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, testStoreUrl, repoRoot } from '../compat/harness.mjs';
import { PROMPT, learnConfig, routeAuto } from './common.mjs';

const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const dir = mkdtempSync(join(tmpdir(), 'gr-calibrate-'));
const store = testStoreUrl(dir);
const cfg = join(dir, 'config.yaml');
writeFileSync(cfg, learnConfig(1, store));
const req = join(dir, 'req.json');
writeFileSync(req, JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: PROMPT }] }));

const tasks = [
  'Write a Python function that reverses a linked list in place.',
  'Implement binary search in JavaScript and return -1 when the value is missing.',
  'Write a SQL query that returns the second highest salary from an employees table.',
  'Fix the off-by-one bug in this C loop: for (int i = 0; i <= n; i++) sum += a[i];',
  'Write a bash script that counts the lines of every .c file under src/.',
];
// 40 coding prompts: strong (provider id strong-1, matched by its deployment) always wrong, cheap always right;
// an unknown model is counted and skipped
const lines = [];
for (let i = 0; i < 40; i++)
  lines.push(JSON.stringify({ prompt: `${tasks[i % tasks.length]} (variant ${i})`, outcomes: { 'org/strong-1': 0, cheap: 1, 'no-such-model': 1 } }));
const data = join(dir, 'outcomes.jsonl');
writeFileSync(data, lines.join('\n') + '\n');

const run = (...args) => spawnSync(bin, ['route', '--config', cfg, ...args], { encoding: 'utf8' });
const explain = () => {
  const r = run('--explain', req);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

test('--dry-run prints held-out figures and writes nothing', () => {
  assert.match(explain(), /\* strong /);
  const r = run('calibrate', data, '--dry-run');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /40 prompts, 80 outcomes of configured models \(40 of unknown models skipped\)/);
  const ll = [...r.stdout.matchAll(/(before|after)\s+log loss ([\d.]+)/g)].map((m) => Number(m[2]));
  assert.equal(ll.length, 2);
  assert.ok(ll[1] < ll[0], `held-out log loss falls: ${ll[0]} -> ${ll[1]}`);
  assert.match(r.stdout, /dry run: nothing written/);
  assert.doesNotMatch(explain(), /learned:/);
});

test('calibrate writes the estimates: auto moves the coding prompt to cheap, and a gateway on the store sees it', async () => {
  const r = run('calibrate', data);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote the outcomes of all 40 prompts to the store: 2 models/);
  const out = explain();
  assert.match(out, /\* cheap /);
  assert.match(out, /strong .*learned: 0\.\d\d from 40 ratings/);
  const gw = await startGateway({ config: (port) => learnConfig(port, store) });
  try {
    const d = await routeAuto(gw);
    assert.equal(d.chosen, 'cheap');
    assert.equal(d.by.strong.learned.ratings, 40);
    assert.equal(d.by.cheap.learned.ratings, 40);
    assert.ok(d.by.cheap.learned.quality > d.by.cheap.learned.prior);
  } finally {
    await gw.stop();
  }
});

test('bad input is refused with the line number; nothing is written', () => {
  for (const [text, want] of [
    ['{"prompt": "x", "outcomes": {"cheap": 1}}\nnot json\n', /outcomes\.jsonl:2: expected/],
    ['{"prompt": "x", "outcomes": {"cheap": 2}}\n', /outcomes\.jsonl:1: outcome of 'cheap' must be 0\.\.1/],
    ['{"outcomes": {"cheap": 1}}\n', /outcomes\.jsonl:1: expected/],
  ]) {
    writeFileSync(data, text);
    const r = run('calibrate', data);
    assert.equal(r.status, 1, text);
    assert.match(r.stderr, want);
  }
  assert.match(explain(), /from 40 ratings/); // unchanged
  const missing = run('calibrate', join(dir, 'nope.jsonl'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read/);
});
