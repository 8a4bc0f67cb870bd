// log_sink.test.mjs — per-request records in batches to an HTTP endpoint:
// the generic shape and Langfuse's ingestion batch; metadata always, prompts
// and completions only as configured (none by default, sizes only when
// redacted); a hung endpoint drops and counts without touching requests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, testStoreUrl, TEST_KEY } from '../compat/harness.mjs';
import { startJsonCollector, startRecordingUpstream, startBlackHole } from './otlp_receiver.mjs';

const SECRET_PROMPT = 'the launch code is 0451';
let up, rx;
before(async () => { up = await startRecordingUpstream(); rx = await startJsonCollector(); });
after(async () => { await up.close(); await rx.close(); });

const config = (sink) => (port, dir) => `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "-", level: warn }
auth:
  keys: [ { name: team-a, key: ${TEST_KEY} } ]
providers:
  - { name: rec, kind: openai, base_url: "${up.baseURL}" }
models:
  - { name: m1, provider: rec, model: up-model-1, pricing: { input: 1.0, output: 2.0 } }
log_sink:
${sink}
`;

async function chat(gw) {
  const r = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: SECRET_PROMPT }] }),
  });
  assert.equal(r.status, 200);
  await r.json();
  return r.headers.get('x-gaterouter-request-id');
}

const flat = (bodies) => bodies.flatMap((b) => (Array.isArray(b) ? b : b.batch || []));

test('generic records: metadata only by default', async () => {
  const gw = await startGateway({ config: config(`  url: ${rx.url}\n  batch_delay_ms: 20\n  headers: x-api-key=abc%20def\n`) });
  try {
    const id = await chat(gw);
    await fetch(`${gw.base}/health`); // not a model request: no record
    const recs = flat(await rx.waitFor((b) => flat(b).some((x) => x.request_id === id)));
    const rec = recs.find((x) => x.request_id === id);
    assert.ok(rec, 'the record arrived');
    assert.equal(rec.status, 200);
    assert.equal(rec.key, 'team-a');
    assert.equal(rec.model, 'm1');
    assert.equal(rec.served_model, 'up-model-1');
    assert.equal(rec.provider, 'rec');
    assert.equal(rec.prompt_tokens, 7);
    assert.equal(rec.completion_tokens, 3);
    assert.ok(Math.abs(rec.cost_usd - 13e-6) < 1e-12);
    assert.match(rec.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(!('input' in rec) && !('output' in rec), 'no content by default');
    assert.ok(!JSON.stringify(recs).includes('launch code'));
    assert.ok(!recs.some((x) => x.route === '/health'));
    assert.ok(rx.headers.some((h) => h['x-api-key'] === 'abc def'));
    assert.deepEqual(rx.errors, []);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('redacted content: sizes only', async () => {
  const gw = await startGateway({ config: config(`  url: ${rx.url}\n  batch_delay_ms: 20\n  content: redacted\n`) });
  try {
    const id = await chat(gw);
    const rec = flat(await rx.waitFor((b) => flat(b).some((x) => x.request_id === id))).find((x) => x.request_id === id);
    assert.match(rec.input, /^\[redacted: \d+ bytes\]$/);
    assert.match(rec.output, /^\[redacted: \d+ bytes\]$/);
  } finally {
    await gw.stop();
  }
});

test('Langfuse shape with full content', async () => {
  const gw = await startGateway({ config: config(`  url: ${rx.url}\n  batch_delay_ms: 20\n  format: langfuse\n  content: full\n`) });
  try {
    const id = await chat(gw);
    const batch = await rx.waitFor((b) => b.some((x) => x.batch?.some((ev) => ev.body?.traceId === id)));
    const events = batch.filter((x) => x.batch).flatMap((x) => x.batch);
    const trace = events.find((ev) => ev.type === 'trace-create' && ev.body.id === id);
    const gen = events.find((ev) => ev.type === 'generation-create' && ev.body.traceId === id);
    assert.ok(trace && gen, 'a trace and its generation');
    assert.notEqual(trace.id, gen.id, 'event ids unique');
    assert.equal(trace.body.userId, 'team-a');
    assert.equal(gen.body.model, 'up-model-1');
    assert.deepEqual(gen.body.usage, { input: 7, output: 3, unit: 'TOKENS' });
    assert.ok(Date.parse(gen.body.endTime) >= Date.parse(gen.body.startTime));
    assert.ok(JSON.parse(gen.body.input)[0].content === SECRET_PROMPT, 'the prompt, with content: full');
    assert.equal(JSON.parse(gen.body.output).choices[0].message.content, 'hi');
    assert.equal(trace.body.metadata.status, 200);
  } finally {
    await gw.stop();
  }
});

test('a hung endpoint: requests unaffected, overflow dropped and counted', async () => {
  const hole = await startBlackHole();
  const gw = await startGateway({ config: config(`  url: ${hole.url}\n  batch_delay_ms: 10\n  queue_max: 2\n  batch_max: 1\n  timeout_ms: 2000\n`) });
  try {
    const t0 = Date.now();
    for (let i = 0; i < 30; i++) await chat(gw);
    assert.ok(Date.now() - t0 < 5000, 'requests in the usual time');
    const text = await (await fetch(`${gw.base}/metrics`)).text();
    const m = text.match(/gaterouter_export_records_total\{sink="log_sink",result="dropped"\} (\d+)/);
    assert.ok(m && Number(m[1]) > 0, 'dropped records counted');
  } finally {
    assert.equal(await gw.stop(), 0);
    await hole.close();
  }
});
