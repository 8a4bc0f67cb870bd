// metrics.test.mjs — /metrics that can be trusted: a flood of junk paths,
// model names, methods and headers must not grow the series; the families
// operators alert on exist and move: gateway-added latency (time not spent
// waiting on the upstream), queue depths of the store executor and the
// ledger, executor job and ledger batch latency, breaker state per deployment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, testStoreUrl, TEST_KEY, freePort } from '../compat/harness.mjs';

let gw, deadPort;
// health: the breaker settings (the flood must not open the breaker it floods through)
const config = (health) => (port, dir) => `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 2 }
log: { access_log: "-", level: warn }
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
routing:
  health: ${health}
providers:
  - name: mock
    kind: mock
    latency_ms: 150
  - name: dead
    kind: openai
    base_url: http://127.0.0.1:${deadPort}/v1
    timeouts: { connect_ms: 500 }
models:
  - name: slow
    provider: mock
    model: mock-slow-1
    pricing: { input: 1, output: 1 }
  - name: gone
    provider: dead
    model: gone-1
  - name: flood
    provider: mock
    model: mock-flood-1
`;
before(async () => {
  deadPort = await freePort();
  gw = await startGateway({ config: config('{ consecutive_failures: 1, cooldown_ms: 60000 }') });
});
after(async () => {
  const code = await gw.stop();
  if (code !== 0) console.log(gw.logs().slice(-3000));
  assert.equal(code, 0, 'the gateway exits cleanly');
});

const H = { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` };
const chat = (model) => fetch(`${gw.baseURL}/chat/completions`, {
  method: 'POST', headers: H, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
}).then(async (r) => { await r.arrayBuffer(); return r.status; });

async function scrape() { return (await fetch(`${gw.base}/metrics`)).text(); }
const series = (text) => text.split('\n').filter((l) => l && !l.startsWith('#'));
function value(text, re) {
  const m = text.match(re);
  return m ? Number(m[1]) : NaN;
}

async function flood(tag, n) {
  const work = [];
  // an upstream that makes up status codes (relayed as they are)
  for (let s = 400; s < 500; s++) {
    if (s === 429 || s === 407) continue; // 429 feeds the breaker; node's fetch refuses a 407 reply
    work.push(fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST', headers: H,
      body: JSON.stringify({ model: 'flood', messages: [{ role: 'user', content: `[[mock:status=${s}]] ${tag}` }] }),
    }).then((r) => r.arrayBuffer()));
  }
  for (let i = 0; i < n; i++) {
    const junk = `junk-${tag}-${i}-${'x'.repeat(i % 40)}`;
    work.push(fetch(`${gw.base}/${junk}/v1/chat/completions?q=${junk}`, { headers: { 'x-request-id': junk } }).then((r) => r.arrayBuffer()));
    work.push(fetch(`${gw.baseURL}/${junk}`, { method: 'DELETE' }).then((r) => r.arrayBuffer()));
    work.push(chat(junk));
    work.push(fetch(`${gw.baseURL}/models/${junk}`, { headers: H }).then((r) => r.arrayBuffer()));
    if (work.length >= 64) await Promise.all(work.splice(0));
  }
  await Promise.all(work);
}

test('a flood of junk paths and model names does not grow the series', async () => {
  const main = gw;
  gw = await startGateway({ config: config('{ consecutive_failures: 1000 }') });
  try {
    await floodCheck();
  } finally {
    assert.equal(await gw.stop(), 0);
    gw = main;
  }
});

async function floodCheck() {
  await flood('a', 50);
  await scrape(); // the scrape's own series exist from here on
  const first = series(await scrape());
  await flood('b', 300);
  const text = await scrape();
  const second = series(text);
  assert.equal(second.filter((l) => /junk/.test(l)).length, 0, 'no junk label value');
  const names = (ls) => new Set(ls.map((l) => l.replace(/ [^ ]+$/, '')));
  const grown = [...names(second)].filter((s) => !names(first).has(s));
  assert.deepEqual(grown, [], 'the same label sets after 6x more junk');
  assert.equal(value(text, /^gaterouter_metrics_overflow_total (\d+)/m), 0);
  assert.ok(value(text, /gaterouter_requests_total\{route="\/v1\/chat\/completions",status="4xx",model="flood",provider="mock"\} (\d+)/) >= 150,
    'made-up upstream statuses folded into their class');
  assert.ok(!/status="451"/.test(text));
  assert.ok(value(text, /gaterouter_requests_total\{route="other",status="404",model="",provider=""\} (\d+)/) >= 700,
    'junk paths counted under route="other"');
}

test('gateway-added latency excludes the upstream wait', async () => {
  for (let i = 0; i < 6; i++) assert.equal(await chat('slow'), 200);
  const route = 'route="/v1/chat/completions"';
  // a request is counted when it finishes, just after its reply went out: poll (bounded) for the last one
  const counted = (t) => value(t, new RegExp(`gaterouter_gateway_duration_seconds_count\\{${route}\\} (\\d+)`));
  let text = await scrape();
  for (let i = 0; i < 40 && !(counted(text) >= 6); i++) {
    await new Promise((r) => setTimeout(r, 50));
    text = await scrape();
  }
  const total = value(text, new RegExp(`gaterouter_request_duration_seconds_sum\\{${route}\\} ([0-9.e+-]+)`));
  const added = value(text, new RegExp(`gaterouter_gateway_duration_seconds_sum\\{${route}\\} ([0-9.e+-]+)`));
  const count = value(text, new RegExp(`gaterouter_gateway_duration_seconds_count\\{${route}\\} (\\d+)`));
  assert.ok(count >= 6, `count ${count}`);
  assert.ok(total >= 6 * 0.15, `request time ${total} s includes the 150 ms upstream latency`);
  assert.ok(added < total * 0.5, `gateway-added ${added} s of ${total} s`);
});

test('queue depths, executor and ledger latency, breaker state per deployment', async () => {
  const st = await chat('gone');
  assert.ok(st >= 500, `status ${st}`);
  const key = await fetch(`${gw.baseURL}/generation?id=gen-none`, { headers: H }); // a store-executor job
  await key.arrayBuffer();
  let text = '';
  for (let i = 0; i < 40; i++) { // the ledger commits its batch within ~50 ms
    text = await scrape();
    if (/gaterouter_ledger_batch_duration_seconds_count (\d+)/.test(text) && value(text, /gaterouter_ledger_batch_duration_seconds_count (\d+)/) > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(value(text, /gaterouter_breaker_state\{deployment="dead\/gone-1"\} (\d+)/), 1, 'open');
  assert.equal(value(text, /gaterouter_breaker_state\{deployment="mock\/mock-slow-1"\} (\d+)/), 0, 'closed');
  assert.ok(value(text, /gaterouter_queue_depth\{queue="ledger"\} (\d+)/) >= 0);
  assert.ok(value(text, /gaterouter_queue_depth\{queue="store_executor"\} (\d+)/) >= 0);
  assert.ok(value(text, /gaterouter_queue_capacity\{queue="ledger"\} (\d+)/) > 0);
  assert.ok(value(text, /gaterouter_ledger_batch_duration_seconds_count (\d+)/) > 0);
  assert.ok(value(text, /gaterouter_store_job_duration_seconds_count\{pool="store",stage="run"\} (\d+)/) > 0);
  assert.ok(value(text, /gaterouter_upstream_errors_total\{provider="dead",reason="connect"\} (\d+)/) >= 1);
  assert.ok(value(text, /gaterouter_ledger_rows_total\{outcome="written"\} (\d+)/) > 0);
});
