// access_log.test.mjs — the buffered access log (log.access_log_buffer /
// access_log_flush_ms, as nginx's buffer=/flush=): every request's line is
// written, whole, within the flush interval and at a graceful stop, and
// while buffered no line is written at all (no write(2) per request).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startGateway, testStoreUrl, TEST_KEY } from '../compat/harness.mjs';

const config = (buffer, flushMs) => (port, dir) => `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "${join(dir, 'access.log')}", access_log_buffer: ${buffer}, access_log_flush_ms: ${flushMs}, level: warn }
auth:
  keys: [ { name: team-a, key: ${TEST_KEY} } ]
providers:
  - { name: mock, kind: mock }
models:
  - { name: m1, provider: mock, model: mock-1, pricing: { input: 1.0, output: 2.0 } }
`;

async function chat(gw) {
  const r = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
  });
  assert.equal(r.status, 200);
  await r.json();
  return r.headers.get('x-gaterouter-request-id');
}

const linesOf = (gw) => {
  const p = join(gw.dir, 'access.log');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)); // every line whole JSON
};

async function waitForIds(gw, ids, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = new Set(linesOf(gw).map((l) => l.id));
    const missing = ids.filter((id) => !seen.has(id));
    if (!missing.length) return;
    if (Date.now() > deadline) assert.fail(`${missing.length} of ${ids.length} lines not written after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('buffered lines reach the file within the flush interval, whole, one per request', async () => {
  const gw = await startGateway({ config: config('64KiB', 200) });
  try {
    const ids = [];
    for (let i = 0; i < 40; i++) ids.push(await chat(gw));
    await waitForIds(gw, ids, 200 + 5000); // flush interval + a generous bound for a loaded machine
    const lines = linesOf(gw).filter((l) => l.path === '/v1/chat/completions');
    assert.equal(lines.length, 40, 'each request exactly once');
    assert.equal(new Set(lines.map((l) => l.id)).size, 40);
  } finally { await gw.stop(); }
});

test('a graceful stop writes every buffered line (the flush interval is far away)', async () => {
  const gw = await startGateway({ config: config('64KiB', 60000) });
  const ids = [];
  try {
    for (let i = 0; i < 25; i++) ids.push(await chat(gw));
  } finally { assert.equal(await gw.stop('SIGTERM'), 0); }
  const seen = new Set(linesOf(gw).map((l) => l.id));
  assert.deepEqual(ids.filter((id) => !seen.has(id)), [], 'no line lost at a drain');
});

test('lines stay in the buffer until it fills, the interval passes or the worker drains: no write(2) per request', async () => {
  // A buffer that holds every line and an interval far away: while serving,
  // nothing reaches the file (no write(2) to it at all); the drain writes all.
  const gw = await startGateway({ config: config('1MiB', 60000) });
  const ids = [];
  try {
    for (let i = 0; i < 100; i++) ids.push(await chat(gw));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(linesOf(gw).filter((l) => ids.includes(l.id)).length, 0, 'no line written while buffered');
  } finally { assert.equal(await gw.stop('SIGTERM'), 0); }
  const seen = new Set(linesOf(gw).map((l) => l.id));
  assert.deepEqual(ids.filter((id) => !seen.has(id)), [], 'all written at the drain');
});

test('unbuffered (the default): each line is in the file as soon as its request ended', async () => {
  const gw = await startGateway({ config: config(0, 1000) });
  try {
    const id = await chat(gw);
    await waitForIds(gw, [id], 500); // written by the request's own write(2) (there is no flush timer without a buffer)
    assert.ok(linesOf(gw).some((l) => l.id === id));
  } finally { await gw.stop(); }
});
