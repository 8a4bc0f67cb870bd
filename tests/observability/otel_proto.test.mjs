// otel_proto.test.mjs — OTLP/HTTP protobuf export (tracing.protocol:
// http/protobuf, or OTEL_EXPORTER_OTLP_PROTOCOL): a receiver decodes each
// POST with protobufjs and the OTLP message definitions (otlp_trace.proto)
// and must find the very spans the JSON exporter sends for the same request —
// names, kinds, ids and parents, times, attributes, events, status, resource —
// with the client's trace context continued.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { startGateway, testStoreUrl, TEST_KEY, repoRoot } from '../compat/harness.mjs';
import { startOtlpReceiver, startRecordingUpstream } from './otlp_receiver.mjs';

const root = protobuf.loadSync(join(repoRoot, 'tests', 'observability', 'otlp_trace.proto'));
const Request = root.lookupType('otlp.ExportTraceServiceRequest');

// POST /v1/traces with Content-Type application/x-protobuf, decoded.
async function startProtoReceiver() {
  const bodies = [], errors = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      try {
        if (req.url !== '/v1/traces') throw new Error(`unexpected ${req.url}`);
        if (req.headers['content-type'] !== 'application/x-protobuf') throw new Error(`content-type ${req.headers['content-type']}`);
        const msg = Request.decode(Buffer.concat(chunks));
        bodies.push(Request.toObject(msg, { longs: String, bytes: String, defaults: false, oneofs: false }));
      } catch (e) { errors.push(String(e)); }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/traces`, bodies, errors,
    spans() {
      const out = [];
      for (const b of bodies)
        for (const rs of b.resourceSpans || [])
          for (const ss of rs.scopeSpans || [])
            for (const s of ss.spans || []) out.push({ ...s, resource: rs.resource, scope: ss.scope });
      return out;
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

const hex = (b64) => (b64 ? Buffer.from(b64, 'base64').toString('hex') : '');
const anyValue = (v) => (v.stringValue !== undefined ? v.stringValue : v.intValue !== undefined ? String(v.intValue)
  : v.boolValue !== undefined ? v.boolValue : v.doubleValue !== undefined ? Number(v.doubleValue) : v);
const kv = (list) => Object.fromEntries((list || []).map((a) => [a.key, anyValue(a.value)]));

// One shape for both encodings; attributes whose value differs by request (ids, timings) are kept by key only.
const VARYING = new Set(['gaterouter.request_id', 'gaterouter.ttft_ms', 'gaterouter.bytes_out']);
function normal(all, { fromProto }) {
  const id = (x) => (fromProto ? hex(x) : x || '');
  const spans = all.filter((s) => id(s.traceId) === TRACE); // not the start-up probes' traces
  const rootSpan = spans.find((s) => !spans.some((p) => id(p.spanId) === id(s.parentSpanId)));
  const byId = new Map(spans.map((s) => [id(s.spanId), s]));
  return spans.map((s) => {
    const attrs = kv(s.attributes);
    for (const k of Object.keys(attrs)) if (VARYING.has(k)) attrs[k] = '*';
    const parent = byId.get(id(s.parentSpanId));
    return {
      name: s.name, kind: Number(s.kind), parent: parent ? parent.name : s === rootSpan ? '(client)' : '?',
      traceId: id(s.traceId), traceState: s.traceState || '',
      durationOk: BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano) && BigInt(s.startTimeUnixNano) > 1600000000000000000n,
      attrs, events: (s.events || []).map((e) => e.name),
      status: s.status && s.status.code ? { code: Number(s.status.code), message: s.status.message } : null,
      resource: kv(s.resource.attributes), scope: `${s.scope.name}/${s.scope.version}`,
    };
  }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const config = (upURL, tracing) => (port, dir) => `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "-", level: warn }
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
routing:
  health: { consecutive_failures: 1000 }
providers:
  - { name: rec, kind: openai, base_url: "${upURL}" }
models:
  - { name: m1, provider: rec, model: up-model-1, pricing: { input: 1.0, output: 2.0 } }
  - { name: broken, provider: rec, model: fail-500 }
${tracing}`;

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736', PARENT = '00f067aa0ba902b7';

async function chat(gw, model) {
  const r = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}`, traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] }),
  });
  await r.text();
  return r.status;
}

async function until(pred, ms = 8000) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

let up, pb, js;
before(async () => { up = await startRecordingUpstream(); pb = await startProtoReceiver(); js = await startOtlpReceiver(); });
after(async () => { await up.close(); await pb.close(); await js.close(); });

test('protobuf export carries the same spans as the JSON export (a success and an upstream 500)', async () => {
  const tracing = (url, protocol) => `tracing:\n  endpoint: ${url}\n  protocol: ${protocol}\n  batch_delay_ms: 30\n  resource_attributes: deployment.environment=test\n`;
  const gp = await startGateway({ config: config(up.baseURL, tracing(pb.url, 'http/protobuf')) });
  const gj = await startGateway({ config: config(up.baseURL, tracing(js.url, 'http/json')) });
  try {
    for (const model of ['m1', 'broken']) {
      const before = { p: pb.spans().length, j: js.spans().length };
      assert.equal(await chat(gp, model), await chat(gj, model));
      // every span of the request: the root SERVER span's batch holds them all
      const mine = (r, from, isPb) => r.spans().slice(from).filter((s) => (isPb ? hex(s.traceId) : s.traceId) === TRACE);
      await until(() => mine(pb, before.p, true).length && mine(js, before.j, false).length);
      await new Promise((r) => setTimeout(r, 150));
      const p = normal(pb.spans().slice(before.p), { fromProto: true });
      const j = normal(js.spans().slice(before.j), { fromProto: false });
      assert.ok(p.length >= 4, `spans: ${p.map((s) => s.name)}`);
      assert.deepEqual(p, j);
      const server = p.find((s) => s.kind === 2);
      assert.equal(server.traceId, TRACE, 'the client trace is continued');
      assert.equal(server.parent, '(client)');
      assert.equal(server.traceState, 'vendor=abc');
      assert.equal(server.attrs['gen_ai.request.model'], model);
      assert.equal(server.resource['service.name'], 'gaterouter');
      assert.equal(server.resource['deployment.environment'], 'test');
      if (model === 'm1') {
        assert.equal(server.attrs['http.response.status_code'], '200');
        assert.equal(server.attrs['gen_ai.usage.input_tokens'], '7');
        assert.ok(Math.abs(server.attrs['gaterouter.cost_usd'] - 13e-6) < 1e-12);
        assert.ok(p.some((s) => s.kind === 3 && s.events.includes('gen_ai.first_token')));
      } else {
        assert.equal(server.status.code, 2);
      }
      assert.ok(p.every((s) => s.durationOk && s.traceId === TRACE));
    }
    assert.deepEqual(pb.errors, []);
    assert.deepEqual(js.errors, []);
  } finally {
    assert.equal(await gp.stop(), 0);
    assert.equal(await gj.stop(), 0);
  }
});

test('OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf selects protobuf; an unknown protocol is refused', async () => {
  const before = pb.spans().length;
  const gw = await startGateway({
    config: config(up.baseURL, 'tracing:\n  batch_delay_ms: 30\n'),
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: pb.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
  });
  try {
    assert.equal(await chat(gw, 'm1'), 200);
    await until(() => pb.spans().length > before);
    assert.ok(pb.spans().length > before, 'spans decoded from protobuf');
    assert.deepEqual(pb.errors, []);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
  await assert.rejects(startGateway({
    config: config(up.baseURL, 'tracing:\n  batch_delay_ms: 30\n'),
    env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: pb.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/thrift' },
  }), /http\/thrift is not supported/);
});
