// secrets.test.mjs — secrets never leave the gateway (docs/SECURITY.md):
// the provider api_key, the admin key and client keys must not appear in the
// access log, the operational log (stderr), /metrics, or any error body —
// including error bodies of an upstream that echoes the credentials it got.
// Also: the admin API is off (404) without an admin key, and answers 401 to a
// wrong one.
//
// The second half drives an upstream that echoes the credential it received in
// every field and position (echo_upstream.mjs) on every provider kind
// (OpenAI-compatible fast path, Anthropic, Gemini) and on /v1/messages,
// streamed and not, the credential split across TCP reads and padded so that
// a cut falls inside it: no 12-character piece of any key may reach a client
// or a log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFlaky, closedPort } from '../fault/flaky_upstream.mjs';
import { startGateway, faultConfig, post, postStream, chatBody, PROVIDER_SECRET, ADMIN_SECRET, TEST_KEY, sleep } from '../fault/common.mjs';
import { defaultConfig } from '../compat/harness.mjs';
import { startEcho, SCENARIOS } from './echo_upstream.mjs';

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

// ---- an upstream that echoes the credential everywhere ----

const ECHO_KEYS = {
  openai: 'sk-proj-EchoOpenAI7f3a9c1e5b2d8f4a6c0e9b1d',
  anthropic: 'sk-ant-api03-EchoAnthr0pic4e8a2c6f1b9d3e7a5c',
  gemini: 'AIzaSyEchoGemini2b6d0f4a8c1e5b9d3f7a2c6',
  header: 'xtok-EchoHeader9a1c3e5b7d2f4a6c8e0b',
};
// Every 12-byte window of every key: none may appear anywhere.
const pieces = (k) => Array.from({ length: k.length - 11 }, (_, i) => k.slice(i, i + 12));
const keyPieces = Object.values(ECHO_KEYS).flatMap(pieces);
const echoLeaks = (text) => keyPieces.filter((p) => text.includes(p));

function echoConfig(upPort) {
  const models = [];
  for (const proto of ['openai', 'anthropic', 'gemini'])
    for (const s of SCENARIOS) models.push(`  - { name: ${proto}-${s}, provider: echo-${proto}, model: ${s}, pricing: { input: 1, output: 2 } }`);
  return (port, dir) => `
store: "sqlite://${dir}/gaterouter.db"
server:
  listen: 127.0.0.1:${port}
  workers: 1
log:
  access_log: "${dir}/access.log"
  level: debug
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
routing:
  health: { rate_limit_cooldown_ms: 0, consecutive_failures: 1000 }
providers:
  - { name: echo-openai, kind: openai, base_url: "http://127.0.0.1:${upPort}/v1", api_key: "${ECHO_KEYS.openai}", headers: { X-Extra-Token: "${ECHO_KEYS.header}" } }
  - { name: echo-anthropic, kind: anthropic, base_url: "http://127.0.0.1:${upPort}/v1", api_key: "${ECHO_KEYS.anthropic}" }
  - { name: echo-gemini, kind: gemini, base_url: "http://127.0.0.1:${upPort}/v1beta", api_key: "${ECHO_KEYS.gemini}" }
models:
${models.join('\n')}
`;
}

test('an upstream echoing its credential in every field and position: nothing of it reaches the client or a log', async () => {
  const echo = await startEcho();
  const g = await startGateway({ config: echoConfig(echo.port) });
  const seen = [];
  try {
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` };
    const call = async (path, body) => {
      const r = await fetch(g.base + path, { method: 'POST', headers: auth, body: JSON.stringify(body) });
      const text = await r.text();
      seen.push({ what: `${path} ${body.model}${body.stream ? ' stream' : ''} -> ${r.status}`, text });
      return { status: r.status, text };
    };
    for (const proto of ['openai', 'anthropic', 'gemini'])
      for (const s of SCENARIOS) {
        const model = `${proto}-${s}`;
        const msgs = [{ role: 'user', content: 'hello' }];
        await call('/v1/chat/completions', { model, messages: msgs });
        await call('/v1/chat/completions', { model, messages: msgs, stream: true });
        await call('/v1/messages', { model, max_tokens: 16, messages: msgs });
        await call('/v1/messages', { model, max_tokens: 16, messages: msgs, stream: true });
        if (proto === 'openai') {
          await call('/v1/completions', { model, prompt: 'hello' });
          await call('/v1/embeddings', { model, input: 'hello' });
        }
      }
    // The upstream really got the credentials it echoes (else the test proves nothing).
    const got = new Set(echo.requests.map((r) => r.headers.authorization || r.headers['x-api-key'] || r.headers['x-goog-api-key']));
    assert.ok(got.has(`Bearer ${ECHO_KEYS.openai}`) && got.has(ECHO_KEYS.anthropic) && got.has(ECHO_KEYS.gemini), [...got].join(' '));
    assert.ok(echo.requests.some((r) => r.headers['x-extra-token'] === ECHO_KEYS.header));
    // The echoes did reach the client, redacted: the generated text and the error messages say [redacted].
    const ok = seen.find((x) => x.what.startsWith('/v1/chat/completions openai-ok_echo ->'));
    assert.match(ok.text, /Incorrect API key provided: Bearer \[redacted\]/);
    const streamed = seen.find((x) => x.what.startsWith('/v1/chat/completions openai-stream_echo stream'));
    assert.match(streamed.text, /\[redacted\]/);
    assert.match(streamed.text, /"error"/, 'the in-band error event is relayed');
    for (const x of seen) assert.deepEqual(echoLeaks(x.text), [], `${x.what}: ${x.text.slice(0, 400)}`);
    await sleep(200);
    assert.deepEqual(echoLeaks(readFileSync(join(g.dir, 'access.log'), 'utf8')), [], 'access log');
    assert.deepEqual(echoLeaks(g.logs()), [], 'operational log');
    assert.deepEqual(echoLeaks(await (await fetch(`${g.base}/metrics`)).text()), [], '/metrics');
  } finally {
    await g.stop();
    await echo.stop();
  }
});
