// common.mjs — helpers shared by the fault-injection and hostile-client
// suites: a gateway config pointing at the flaky upstream, process
// introspection (/proc fd count, RSS) and a raw SSE reader.
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import assert from 'node:assert/strict';
export { startGateway, TEST_KEY, freePort, repoRoot } from '../compat/harness.mjs';
import { TEST_KEY, startGateway } from '../compat/harness.mjs';
import { startFlaky, closedPort } from './flaky_upstream.mjs';

export const PROVIDER_SECRET = 'sk-upstream-SECRET-5f1c9e27d4b8a6';
export const ADMIN_SECRET = 'adm-SECRET-0b7e44c1d2f39a85';

// One model per scenario: f-<scenario> -> provider flaky, upstream model <scenario>.
export function faultConfig({ upstreamPort, deadPort, scenarios, extraServer = '', timeouts = {} }) {
  const t = { connect_ms: 500, first_byte_ms: 1500, idle_ms: 1500, total_ms: 30000, ...timeouts };
  const tt = `{ connect_ms: ${t.connect_ms}, first_byte_ms: ${t.first_byte_ms}, idle_ms: ${t.idle_ms}, total_ms: ${t.total_ms} }`;
  return (port, dir) => `
store: "sqlite://${dir}/gaterouter.db"
server:
  listen: 127.0.0.1:${port}
  workers: 2
  max_body_bytes: 1MiB
  max_header_bytes: 16KiB
  client_timeout_ms: 3000
  drain_timeout_ms: 3000
  max_sse_event_bytes: 64KiB
  max_upstream_response_bytes: 1MiB
  upstream_client: ${process.env.GR_TEST_UPSTREAM_CLIENT || 'auto'}
${extraServer}
log:
  access_log: "${dir}/access.log"
  level: info
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
  admin_key: "${ADMIN_SECRET}"
providers:
  - { name: flaky, kind: openai, base_url: "http://127.0.0.1:${upstreamPort}/v1", api_key: "${PROVIDER_SECRET}", timeouts: ${tt} }
  - { name: dead, kind: openai, base_url: "http://127.0.0.1:${deadPort}/v1", api_key: "${PROVIDER_SECRET}", timeouts: ${tt} }
models:
  - { name: f-refused, provider: dead, model: refused, pricing: { input: 1, output: 2 } }
${scenarios.map((s) => `  - { name: f-${s}, provider: flaky, model: ${s}, pricing: { input: 1, output: 2 } }`).join('\n')}
`;
}

export const fdCount = (pid) => readdirSync(`/proc/${pid}/fd`).length;
export function rssKb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return m ? Number(m[1]) : 0;
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function waitFor(pred, ms = 5000, step = 25) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await sleep(step);
  }
}

export function chatBody(model, extra = {}) {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'fault test' }], ...extra });
}

// POST a chat request; returns { status, headers, text, json, ms }.
export async function post(base, body, { headers = {}, signal, path = '/v1/chat/completions' } = {}) {
  const t0 = Date.now();
  const r = await fetch(base + path, {
    method: 'POST', body, signal,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}`, ...headers },
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not json */ }
  return { status: r.status, headers: r.headers, text, json, ms: Date.now() - t0 };
}

// Reads an SSE response body fully: { status, raw, events: [data strings], done, ms }.
export async function postStream(base, model, extra = {}) {
  const t0 = Date.now();
  const r = await fetch(base + '/v1/chat/completions', {
    method: 'POST', body: chatBody(model, { stream: true, ...extra }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
  });
  const raw = await r.text();
  const events = raw.split(/\n\n/).filter((b) => b.length).map((b) => b.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'));
  const json = events.filter((e) => e !== '[DONE]').map((e) => { try { return JSON.parse(e); } catch { return e; } });
  const text = json.map((c) => (typeof c === 'object' && c?.choices?.[0]?.delta?.content) || '').join('');
  return { status: r.status, headers: r.headers, raw, events, json, text, done: events.at(-1) === '[DONE]', ms: Date.now() - t0 };
}

export function assertOpenAIError(assert, json, type, code) {
  assert.ok(json && typeof json.error === 'object', `OpenAI error shape, got ${JSON.stringify(json)}`);
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in json.error, `error.${k} present`);
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.message.length > 0);
  if (type) assert.equal(json.error.type, type);
  if (code !== undefined) assert.equal(json.error.code, code);
}

// Raw TCP exchange: writes `data` (string/Buffer or array of [delayMs, chunk]),
// collects everything until the peer closes or `ms` passes.
export function rawExchange(port, data, { ms = 5000, halfClose = false } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let closedByPeer = false;
    const t0 = Date.now();
    const timer = setTimeout(() => { s.destroy(); done(); }, ms);
    let finished = false;
    function done() {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByPeer, ms: Date.now() - t0 });
    }
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => { closedByPeer = true; s.destroy(); done(); });
    s.on('close', done);
    s.on('error', () => { closedByPeer = true; done(); });
    s.on('connect', async () => {
      const parts = Array.isArray(data) ? data : [[0, data]];
      for (const [delay, chunk] of parts) {
        if (delay) await sleep(delay);
        if (s.destroyed) return;
        s.write(chunk);
      }
      if (halfClose) s.end();
    });
  });
}

// The fault suites' rig: the flaky upstream, a gateway in front of it
// (faultConfig), both workers warmed up so lazily created state is not
// counted as a leak, then the fd and RSS baselines. stop() stops both and
// asserts the gateway exits 0 on SIGTERM.
export async function startFaultRig() {
  const up = await startFlaky();
  const gw = await startGateway({ config: faultConfig({ upstreamPort: up.port, deadPort: await closedPort(), scenarios: up.scenarios }) });
  for (let i = 0; i < 8; i++) assert.equal((await post(gw.base, chatBody('f-ok_json'))).status, 200);
  await sleep(200);
  return {
    up, gw, fd0: fdCount(gw.proc.pid), rss0: rssKb(gw.proc.pid),
    async stop() {
      const code = await gw.stop();
      await up.stop();
      assert.equal(code, 0, `gateway exits 0 on SIGTERM:\n${gw.logs().slice(-2000)}`);
    },
  };
}
