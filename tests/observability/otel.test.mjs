// otel.test.mjs — OpenTelemetry traces end to end: a client with a W3C
// traceparent → the gateway → a recording upstream, with a local OTLP/HTTP
// receiver that decodes the export and checks span structure, GenAI
// attributes and the propagated context; sampling (parent-based ratio,
// errors always); the OTEL_* environment; and a dead or hung collector, which
// must not touch requests while its losses are counted in /metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, testStoreUrl, TEST_KEY, freePort, repoRoot } from '../compat/harness.mjs';
import { startOtlpReceiver, startRecordingUpstream, startBlackHole, attrs } from './otlp_receiver.mjs';
import { randomBytes } from 'node:crypto';
import { privateKeyToAccount } from 'viem/accounts';
import { signAuth, v1Header } from '../e2e/x402/lib.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');

function config(upstreamURL, tracing) {
  return (port, dir) => `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 2 }
log: { access_log: "-", level: info }
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
routing:
  health: { rate_limit_cooldown_ms: 0, consecutive_failures: 1000 }
providers:
  - name: rec
    kind: openai
    base_url: ${upstreamURL}
models:
  - name: m1
    provider: rec
    model: up-model-1
    pricing: { input: 1.0, output: 2.0 }
  - name: broken
    provider: rec
    model: fail-500
${tracing}`;
}

function chat(gw, model, headers = {}) {
  return fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}`, ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] }),
  });
}

async function metric(gw, re) {
  const text = await (await fetch(`${gw.base}/metrics`)).text();
  const m = text.match(re);
  return m ? Number(m[1]) : 0;
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

let up, rx;
before(async () => {
  up = await startRecordingUpstream();
  rx = await startOtlpReceiver();
});
after(async () => {
  await up.close();
  await rx.close();
});

test('a continued trace: span tree, GenAI attributes, traceparent forwarded upstream', async () => {
  const gw = await startGateway({
    config: config(up.baseURL, `tracing:\n  endpoint: ${rx.url}\n  batch_delay_ms: 50\n  resource_attributes: deployment.environment=test,team=gw\n`),
  });
  try {
    up.seen.length = 0;
    const res = await chat(gw, 'm1', { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc' });
    assert.equal(res.status, 200);
    await res.json();
    // upstream: same trace, a new span id (the attempt's), sampled, tracestate kept
    const h = up.seen[0].headers;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(h.traceparent || '');
    assert.ok(m, `forwarded traceparent: ${h.traceparent}`);
    assert.equal(m[1], TRACE);
    assert.notEqual(m[2], PARENT);
    assert.equal(h.tracestate, 'vendor=abc');

    const spans = (await rx.waitFor((s) => s.some((x) => x.traceId === TRACE && x.kind === 3)))
      .filter((s) => s.traceId === TRACE);
    assert.deepEqual(rx.errors, []);
    const root = spans.find((s) => s.kind === 2);
    assert.ok(root, 'a SERVER span');
    assert.equal(root.parentSpanId, PARENT);
    assert.equal(root.traceState, 'vendor=abc');
    assert.equal(root.name, 'POST /v1/chat/completions');
    const ra = attrs(root);
    assert.equal(ra['http.response.status_code'], '200');
    assert.equal(ra['gen_ai.operation.name'], 'chat');
    assert.equal(ra['gen_ai.request.model'], 'm1');
    assert.equal(ra['gen_ai.response.model'], 'up-model-1');
    assert.equal(ra['gen_ai.provider.name'], 'openai');
    assert.equal(ra['gen_ai.system'], 'openai');
    assert.equal(ra['gen_ai.usage.input_tokens'], '7');
    assert.equal(ra['gen_ai.usage.output_tokens'], '3');
    assert.ok(Math.abs(ra['gaterouter.cost_usd'] - (7 * 1.0 + 3 * 2.0) / 1e6) < 1e-12, `cost ${ra['gaterouter.cost_usd']}`);
    assert.ok(ra['gaterouter.route.reason'], 'the route decision');
    // children of the root: route, admission, the attempt (CLIENT) with its first byte, the relay
    const byName = (n) => spans.find((s) => s.name === n);
    for (const n of ['gaterouter.route', 'gaterouter.admission', 'gaterouter.relay']) {
      assert.ok(byName(n), `span ${n} in ${spans.map((s) => s.name)}`);
      assert.equal(byName(n).parentSpanId, root.spanId);
    }
    const attempt = spans.find((s) => s.kind === 3);
    assert.equal(attempt.spanId, m[2], 'the upstream got the attempt span as its parent');
    assert.equal(attempt.parentSpanId, root.spanId);
    assert.equal(attempt.name, 'chat up-model-1');
    assert.equal(attrs(attempt)['gen_ai.provider.name'], 'openai');
    assert.equal(attrs(attempt)['http.response.status_code'], '200');
    assert.ok(attempt.events.some((e) => e.name === 'gen_ai.first_token'));
    // OTLP/JSON: hex ids, int64 nanos as decimal strings, ordered times
    for (const s of spans) {
      assert.match(s.spanId, /^[0-9a-f]{16}$/);
      assert.equal(typeof s.startTimeUnixNano, 'string');
      assert.match(s.startTimeUnixNano, /^\d{19}$/);
      assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), s.name);
      assert.ok(BigInt(s.startTimeUnixNano) >= BigInt(root.startTimeUnixNano), s.name);
      assert.ok(BigInt(s.endTimeUnixNano) <= BigInt(root.endTimeUnixNano) + 1000n, s.name);
    }
    const nowNs = BigInt(Date.now()) * 1000000n;
    assert.ok(nowNs - BigInt(root.startTimeUnixNano) < 60n * 1000000000n, 'unix time, not monotonic');
    const res_ = attrs(root.resource);
    assert.equal(res_['service.name'], 'gaterouter');
    assert.equal(res_['deployment.environment'], 'test');
    assert.equal(res_.team, 'gw');
    assert.equal(root.scope.name, 'gaterouter');
    assert.ok(await metric(gw, /gaterouter_export_records_total\{sink="otlp_traces",result="exported"\} (\d+)/) >= 5);
  } finally {
    await gw.stop();
  }
});

test('sampling: ratio 0 drops a root trace (flag 00 upstream), follows a sampled parent, keeps errors', async () => {
  const gw = await startGateway({
    config: config(up.baseURL, `tracing:\n  endpoint: ${rx.url}\n  batch_delay_ms: 50\n  sample_ratio: 0\n`),
  });
  try {
    up.seen.length = 0;
    const before = rx.spans().length;
    const a = await chat(gw, 'm1');
    assert.equal(a.status, 200);
    const tpA = /^00-([0-9a-f]{32})-[0-9a-f]{16}-00$/.exec(up.seen[0].headers.traceparent || '');
    assert.ok(tpA, `unsampled flag upstream: ${up.seen[0].headers.traceparent}`);
    const trace2 = 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb';
    const b = await chat(gw, 'm1', { traceparent: `00-${trace2}-${PARENT}-01` });
    assert.equal(b.status, 200);
    const c = await chat(gw, 'broken');
    assert.ok(c.status >= 500, `status ${c.status}`);
    const tpC = /^00-([0-9a-f]{32})-/.exec(up.seen[2].headers.traceparent)[1];
    const spans = await rx.waitFor((s) => s.some((x) => x.traceId === tpC) && s.some((x) => x.traceId === trace2));
    assert.ok(spans.some((s) => s.traceId === trace2 && s.kind === 2), 'the sampled parent was followed');
    const err = spans.find((s) => s.traceId === tpC && s.kind === 2);
    assert.ok(err, 'the failed request was exported although the head said no');
    assert.equal(err.status.code, 2);
    const failedAttempt = spans.find((s) => s.traceId === tpC && s.kind === 3);
    assert.equal(failedAttempt.status.code, 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!rx.spans().slice(before).some((s) => s.traceId === tpA[1]), 'the unsampled trace was not exported');
  } finally {
    await gw.stop();
  }
});

test('the OTEL_* environment configures the exporter; the config file overrides it', async () => {
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}`,
    OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=t%201,authorization=Bearer abc',
    OTEL_SERVICE_NAME: 'from-env',
    OTEL_RESOURCE_ATTRIBUTES: 'region=eu,team=env',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  };
  let gw = await startGateway({ config: config(up.baseURL, ''), env });
  try {
    const tid = 'cccccccccccccccc0000000000000001';
    assert.equal((await chat(gw, 'm1', { traceparent: `00-${tid}-${PARENT}-01` })).status, 200);
    const spans = await rx.waitFor((s) => s.some((x) => x.traceId === tid));
    const root = spans.find((s) => s.traceId === tid && s.kind === 2);
    assert.ok(root, 'exported to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces');
    assert.equal(attrs(root.resource)['service.name'], 'from-env');
    assert.equal(attrs(root.resource).region, 'eu');
    assert.ok(rx.headers.some((h) => h['x-tenant'] === 't 1' && h.authorization === 'Bearer abc'), 'exporter headers');
  } finally {
    await gw.stop();
  }
  gw = await startGateway({ config: config(up.baseURL, 'tracing:\n  service_name: from-config\n  resource_attributes: team=cfg\n'), env });
  try {
    const tid = 'cccccccccccccccc0000000000000002';
    assert.equal((await chat(gw, 'm1', { traceparent: `00-${tid}-${PARENT}-01` })).status, 200);
    const spans = await rx.waitFor((s) => s.some((x) => x.traceId === tid));
    const root = spans.find((s) => s.traceId === tid && s.kind === 2);
    assert.ok(root);
    assert.equal(attrs(root.resource)['service.name'], 'from-config');
    assert.equal(attrs(root.resource).team, 'cfg', 'the file wins over OTEL_RESOURCE_ATTRIBUTES');
    assert.equal(attrs(root.resource).region, 'eu', 'the rest of the environment stays');
  } finally {
    await gw.stop();
  }
});

test('a malformed traceparent starts a new trace', async () => {
  const gw = await startGateway({ config: config(up.baseURL, `tracing:\n  endpoint: ${rx.url}\n  batch_delay_ms: 50\n`) });
  try {
    for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'garbage', `00-${TRACE.toUpperCase()}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01-extra`]) {
      up.seen.length = 0;
      assert.equal((await chat(gw, 'm1', { traceparent: bad })).status, 200);
      const tp = up.seen[0].headers.traceparent;
      assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      assert.ok(!tp.includes(TRACE) && !tp.includes('00000000000000000000000000000000'), `${bad} -> ${tp}`);
    }
  } finally {
    await gw.stop();
  }
});

async function timedRequests(gw, n) {
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const r = await chat(gw, 'm1');
    assert.equal(r.status, 200);
    await r.json();
  }
  return Date.now() - t0;
}

test('a dead collector: requests unaffected, failed exports counted', async () => {
  const dead = await freePort();
  const gw = await startGateway({
    config: config(up.baseURL, `tracing:\n  endpoint: http://127.0.0.1:${dead}/v1/traces\n  batch_delay_ms: 20\n  export_timeout_ms: 500\n`),
  });
  try {
    const ms = await timedRequests(gw, 50);
    assert.ok(ms < 5000, `50 requests took ${ms} ms`);
    let failed = 0;
    for (let i = 0; i < 100 && !failed; i++) {
      failed = await metric(gw, /gaterouter_export_records_total\{sink="otlp_traces",result="failed"\} (\d+)/);
      if (!failed) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(failed > 0, 'failed exports counted');
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('a hung collector: requests unaffected, a full queue drops and counts, shutdown is bounded', async () => {
  const hole = await startBlackHole();
  const gw = await startGateway({
    config: config(up.baseURL, `tracing:\n  endpoint: ${hole.url}\n  batch_delay_ms: 10\n  queue_max: 4\n  batch_max: 2\n  export_timeout_ms: 3000\n`),
  });
  try {
    const ms = await timedRequests(gw, 60);
    assert.ok(ms < 5000, `60 requests took ${ms} ms`);
    const dropped = await metric(gw, /gaterouter_export_records_total\{sink="otlp_traces",result="dropped"\} (\d+)/);
    assert.ok(dropped > 0, `dropped spans counted (${dropped})`);
    const t0 = Date.now();
    assert.equal(await gw.stop(), 0);
    assert.ok(Date.now() - t0 < 15000, 'shutdown waits at most one export timeout per batch attempt');
  } finally {
    await gw.stop();
    await hole.close();
  }
});

test('--check-config refuses what cannot work', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-otel-'));
  const write = (tracing) => {
    const p = join(dir, `c${Math.random()}.yaml`);
    writeFileSync(p, config('http://127.0.0.1:9/v1', tracing)(8080, dir));
    return p;
  };
  const check = (p, env = {}) => {
    try {
      execFileSync(BIN, ['--check-config', p], { env: { ...process.env, ...env }, stdio: 'pipe' });
      return '';
    } catch (e) { return String(e.stderr) + String(e.stdout); }
  };
  assert.equal(check(write(`tracing:\n  endpoint: ${rx.url}\n`)), '');
  assert.match(check(write('tracing:\n  endpoint: ftp://x/v1/traces\n')), /tracing.endpoint/);
  assert.match(check(write(`tracing:\n  endpoint: ${rx.url}\n  queue_max: 10\n  batch_max: 20\n`)), /tracing.batch_max/);
  assert.match(check(write(''), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318', OTEL_TRACES_SAMPLER: 'bogus' }), /OTEL_TRACES_SAMPLER/);
  assert.match(check(write(''), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318', OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG/);
  assert.match(check(write(''), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /grpc/);
  assert.match(check(write(`tracing:\n  endpoint: ${rx.url}\n  headers: "novalue"\n`)), /tracing.headers/);
});

test('x402: verification and the payment-store jobs are child spans of the request', async () => {
  const TOKEN = '0x036CbD53842c5426634e7929541eC2318f3dCF7e', PAY_TO = '0x1111111111111111111111111111111111111111';
  const payer = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
  const gw = await startGateway({
    config: (port, dir) => `${config(up.baseURL, `tracing:\n  endpoint: ${rx.url}\n  batch_delay_ms: 50\n`)(port, dir).replace(/auth:\n.*\n/, 'auth: { keys: [] }\n')}
x402:
  settle: none
  default_max_tokens: 100
  preflight: { enabled: false }
  networks:
    - { network: base-sepolia, asset: "${TOKEN}", name: USDC, version: "2", pay_to: "${PAY_TO}", max_timeout_seconds: 300 }
`,
  });
  try {
    const body = JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 });
    const q = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await q.text();
    assert.equal(q.status, 402);
    const amount = JSON.parse(Buffer.from(q.headers.get('payment-required'), 'base64').toString()).accepts[0].amount;
    const now = Math.floor(Date.now() / 1000);
    const payload = await signAuth(payer, { token: TOKEN, to: PAY_TO, value: amount, validBefore: now + 280, nonce: `0x${randomBytes(32).toString('hex')}` });
    const tid = 'dddddddddddddddd000000000000000a';
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-payment': v1Header(payload), traceparent: `00-${tid}-${PARENT}-01` }, body,
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    const spans = (await rx.waitFor((s) => s.some((x) => x.traceId === tid && x.kind === 3))).filter((s) => s.traceId === tid);
    const root = spans.find((s) => s.kind === 2);
    for (const n of ['x402.verify', 'x402.credit', 'x402.reserve']) {
      const s = spans.find((x) => x.name === n);
      assert.ok(s, `${n} in ${spans.map((x) => x.name)}`);
      assert.equal(s.parentSpanId, root.spanId);
      assert.deepEqual(s.status, {}, `${n} ok`);
    }
    const admission = spans.find((s) => s.name === 'gaterouter.admission');
    const verify = spans.find((s) => s.name === 'x402.verify');
    assert.ok(BigInt(verify.startTimeUnixNano) >= BigInt(admission.startTimeUnixNano), 'verification inside admission');
  } finally {
    await gw.stop();
  }
});
