// edges.test.mjs — issue #16 items 11 and 12 against the real binary: usage.cost
// on Anthropic and Gemini streams, `models` without `model`, the Azure URL on a
// recording upstream, key_revoked / key_expired, static keys on /v1/key,
// Anthropic-shaped errors on /v1/messages, gzip bodies, trailing bytes, Host,
// long paths, invalid UTF-8 in errors and the access log, and CORS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { join } from 'node:path';
import { startGateway, defaultConfig, freePort, repoRoot, TEST_KEY } from '../compat/harness.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const ADMIN = 'adm-sec-edges-0123456789';
const ORIGIN = 'https://app.example.com';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

let mock, mockPort, mockLogs = '';
let recorder, recPort;
const recorded = [];
let gw;

async function startMock() {
  mockPort = await freePort();
  mock = spawn(BIN, ['mock', '--port', String(mockPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  mock.stdout.on('data', (d) => { mockLogs += d; });
  mock.stderr.on('data', (d) => { mockLogs += d; });
  for (const deadline = Date.now() + 10000; ;) {
    if (mock.exitCode !== null) throw new Error(`mock exited early:\n${mockLogs}`);
    try {
      if ((await fetch(`http://127.0.0.1:${mockPort}/mock/stats`)).ok) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`mock did not come up:\n${mockLogs}`);
    await sleep(50);
  }
}

// An OpenAI-compatible upstream that records what it was sent.
async function startRecorder() {
  recorder = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      recorded.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'rec-1', object: 'chat.completion', created: 1, model: 'recorded',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
    });
  });
  await new Promise((r) => recorder.listen(0, '127.0.0.1', r));
  recPort = recorder.address().port;
}

before(async () => {
  await startMock();
  await startRecorder();
  gw = await startGateway({
    config: (port, dir) => defaultConfig(port, `
  - { name: claude-mock, provider: anth, model: claude-mock-1, pricing: { input: 3, output: 15 }, capabilities: [chat, stream] }
  - { name: gemini-mock, provider: gem, model: gemini-mock-1, pricing: { input: 0.3, output: 2.5 }, capabilities: [chat, stream] }
  - { name: az-deployment-url, provider: az-dep, model: ignored-name, pricing: { input: 1, output: 1 } }
  - { name: az-resource-root, provider: az-root, model: dep-two, pricing: { input: 1, output: 1 } }
  - { name: az-v1, provider: az-v1, model: dep-three, pricing: { input: 1, output: 1 } }
`, dir)
      .replace(`providers:
  - name: mock
    kind: mock
`, `providers:
  - name: mock
    kind: mock
  - { name: anth, kind: anthropic, base_url: "http://127.0.0.1:${mockPort}/v1", api_key: sk-ant-mock }
  - { name: gem, kind: gemini, base_url: "http://127.0.0.1:${mockPort}/v1beta", api_key: gemini-mock-key }
  - { name: az-dep, kind: azure, base_url: "http://127.0.0.1:${recPort}/openai/deployments/gpt-4o", api_key: az-key-1, api_version: "2024-10-21" }
  - { name: az-root, kind: azure, base_url: "http://127.0.0.1:${recPort}", api_key: az-key-2 }
  - { name: az-v1, kind: azure, base_url: "http://127.0.0.1:${recPort}/openai/v1", api_key: az-key-3 }
`)
      .replace('auth:\n', `auth:\n  admin_key: ${ADMIN}\n`)
      .replace('  max_body_bytes: 1MiB\n', `  max_body_bytes: 1MiB\n  max_decompressed_body_bytes: 64KiB\n  cors: { origins: ["${ORIGIN}"], max_age: 5m }\n`)
      .replace('access_log: "-"', `access_log: "${dir}/access.log"`),
  });
});

after(async () => {
  if (gw) assert.equal(await gw.stop(), 0, 'gateway drains and exits 0');
  if (mock && mock.exitCode === null) mock.kill('SIGTERM');
  if (recorder) recorder.close();
});

const chat = (body, { path = '/v1/chat/completions', headers = {}, raw } = {}) =>
  fetch(gw.base + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
    body: raw ?? JSON.stringify(body),
  });
const hi = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hello there' }], ...extra });

async function sseChunks(res) {
  const text = await res.text();
  return text.split('\n').filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]').map((l) => JSON.parse(l.slice(6)));
}

// ---- item 11 ----

for (const model of ['claude-mock', 'gemini-mock']) {
  test(`${model}: a stream's usage chunk carries usage.cost like an OpenAI-compatible one`, async () => {
    const res = await chat(hi(model, { stream: true, stream_options: { include_usage: true } }));
    assert.equal(res.status, 200);
    const usage = (await sseChunks(res)).filter((c) => c.usage).map((c) => c.usage);
    assert.equal(usage.length, 1, 'one usage chunk');
    assert.equal(typeof usage[0].cost, 'number', JSON.stringify(usage[0]));
    assert.ok(usage[0].cost > 0, 'priced model: a non-zero cost');
    // the same request without streaming reports the same cost
    const plain = await (await chat(hi(model))).json();
    assert.equal(plain.usage.cost, usage[0].cost);
  });
}

// ---- item 12 ----

test('models without model: models[0] is primary (ROUTING.md), and the upstream gets its model id', async () => {
  const res = await chat({ models: ['mock-gpt'], messages: [{ role: 'user', content: 'hi' }] });
  const j = await res.json();
  assert.equal(res.status, 200, JSON.stringify(j));
  assert.equal(j.model, 'mock-gpt-1', 'the mock echoes the upstream model it received');
});

test('Azure: the URL has the deployment path and api-version, the key goes in api-key', async () => {
  const cases = [
    ['az-deployment-url', '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21', 'az-key-1'],
    ['az-resource-root', '/openai/deployments/dep-two/chat/completions?api-version=2024-10-21', 'az-key-2'],
    ['az-v1', '/openai/v1/chat/completions', 'az-key-3'],
  ];
  for (const [model, url, key] of cases) {
    recorded.length = 0;
    const res = await chat(hi(model));
    assert.equal(res.status, 200, `${model}: ${await res.text()}`);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0].url, url, model);
    assert.equal(recorded[0].headers['api-key'], key);
    assert.equal(recorded[0].headers.authorization, undefined, 'no Bearer to Azure');
  }
});

test('revoked and expired virtual keys get key_revoked / key_expired, not invalid_api_key', async () => {
  const admin = (path, init = {}) => fetch(gw.base + path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } });
  const revoked = await (await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'to-revoke' }) })).json();
  assert.equal((await admin(`/admin/keys/${revoked.id}`, { method: 'DELETE' })).status, 200);
  const r1 = await chat(hi('mock-gpt'), { headers: { authorization: `Bearer ${revoked.key}` } });
  assert.equal(r1.status, 401);
  assert.equal((await r1.json()).error.code, 'key_revoked');
  const expired = await (await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'old', expires_at: 1000 }) })).json();
  const r2 = await chat(hi('mock-gpt'), { headers: { authorization: `Bearer ${expired.key}` } });
  assert.equal(r2.status, 401);
  assert.equal((await r2.json()).error.code, 'key_expired');
});

test('a static key (auth.keys) works on GET /v1/key', async () => {
  const res = await fetch(`${gw.base}/v1/key`, { headers: { authorization: `Bearer ${TEST_KEY}` } });
  const j = await res.json();
  assert.equal(res.status, 200, JSON.stringify(j));
  assert.equal(j.data.name, 'test');
  assert.equal(j.data.source, 'config');
  assert.equal(j.data.limits.budget_usd, null);
});

test('/v1/messages answers auth and limit errors in Anthropic\'s shape', async () => {
  const body = JSON.stringify({ model: 'mock-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  const noKey = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const j1 = await noKey.json();
  assert.equal(noKey.status, 401);
  assert.equal(j1.type, 'error');
  assert.equal(j1.error.type, 'authentication_error');
  assert.equal(j1.error.code, undefined, 'no OpenAI-shaped fields');
  const badKey = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-wrong-0000000000', 'content-type': 'application/json' }, body });
  assert.equal((await badKey.json()).type, 'error');
  const k = await (await fetch(`${gw.base}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ name: 'rpm1', rpm: 1 }) })).json();
  const call = () => fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'x-api-key': k.key, 'content-type': 'application/json' }, body });
  assert.equal((await call()).status, 200);
  const limited = await call();
  const j2 = await limited.json();
  assert.equal(limited.status, 429, JSON.stringify(j2));
  assert.equal(j2.type, 'error');
  assert.equal(j2.error.type, 'rate_limit_error');
  // refused by the HTTP server (body over server.max_body_bytes) or before parsing (a coding we do not take)
  const tooBig = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', max_tokens: 16, messages: [{ role: 'user', content: 'x'.repeat(1100000) }] }) });
  assert.equal(tooBig.status, 413);
  assert.equal((await tooBig.json()).type, 'error');
  const br = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'x-api-key': TEST_KEY, 'content-encoding': 'br' }, body });
  assert.equal(br.status, 415);
  assert.equal((await br.json()).type, 'error');
});

test('a gzip or deflate body is decoded; a bomb is 413; an unknown coding is 415; corrupt gzip is 400', async () => {
  const text = JSON.stringify(hi('mock-gpt'));
  for (const [coding, data] of [['gzip', zlib.gzipSync(text)], ['deflate', zlib.deflateSync(text)]]) {
    const res = await chat(null, { raw: data, headers: { 'content-encoding': coding } });
    assert.equal(res.status, 200, `${coding}: ${await res.text()}`);
  }
  const bomb = zlib.gzipSync(JSON.stringify({ ...hi('mock-gpt'), pad: 'a'.repeat(1 << 20) }));
  assert.ok(bomb.length < 64 * 1024, 'small on the wire');
  const big = await chat(null, { raw: bomb, headers: { 'content-encoding': 'gzip' } });
  assert.equal(big.status, 413);
  assert.match((await big.json()).error.message, /max_decompressed_body_bytes/);
  const br = await chat(null, { raw: text, headers: { 'content-encoding': 'br' } });
  assert.equal(br.status, 415);
  assert.equal((await br.json()).error.code, 'unsupported_content_encoding');
  const corrupt = await chat(null, { raw: zlib.gzipSync(text).subarray(0, 20), headers: { 'content-encoding': 'gzip' } });
  assert.equal(corrupt.status, 400);
});

test('trailing bytes after the JSON body are 400 (chat and admin)', async () => {
  const res = await chat(null, { raw: `${JSON.stringify(hi('mock-gpt'))} {"model":"other"}` });
  const j = await res.json();
  assert.equal(res.status, 400);
  assert.equal(j.error.code, 'invalid_json');
  assert.match(j.error.message, /Unexpected data after the JSON body/);
  const ws = await chat(null, { raw: `${JSON.stringify(hi('mock-gpt'))} \r\n` });
  assert.equal(ws.status, 200, 'trailing whitespace is fine');
  const adm = await fetch(`${gw.base}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: '{"name":"a"}garbage' });
  assert.equal(adm.status, 400);
});

function rawRequest(port, text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`timeout, got: ${out}`)); });
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.write(text);
  });
}

test('HTTP/1.1 without Host (or with two) is 400; HTTP/1.0 without Host is served', async () => {
  const noHost = await rawRequest(gw.port, `GET /v1/models HTTP/1.1\r\nAuthorization: Bearer ${TEST_KEY}\r\nConnection: close\r\n\r\n`);
  assert.match(noHost, /^HTTP\/1\.1 400 /);
  assert.match(noHost, /Host header/);
  const two = await rawRequest(gw.port, `GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: Bearer ${TEST_KEY}\r\nConnection: close\r\n\r\n`);
  assert.match(two, /^HTTP\/1\.1 400 /);
  const old = await rawRequest(gw.port, `GET /v1/models HTTP/1.0\r\nAuthorization: Bearer ${TEST_KEY}\r\n\r\n`);
  assert.match(old, /^HTTP\/1\.1 200 /);
});

test('a very long path whose prefix is a route is never served as that route', async () => {
  const path = `/v1/chat/completions${'/'.repeat(150)}x`;
  const res = await chat(hi('mock-gpt'), { path });
  const j = await res.json();
  assert.equal(res.status, 404, JSON.stringify(j));
  assert.equal(j.error.code, 'unknown_url');
});

test('invalid UTF-8 from the client is escaped in error bodies and access-log lines', async () => {
  const raw = Buffer.concat([Buffer.from('{"model":"bad-'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","messages":[{"role":"user","content":"x"}]}')]);
  const res = await chat(null, { raw });
  assert.equal(res.status, 404);
  const bytes = Buffer.from(await res.arrayBuffer());
  const body = JSON.parse(strictUtf8.decode(bytes)); // throws on invalid UTF-8
  assert.match(body.error.message, /bad-\uFFFD\uFFFD\uFFFD/);
  const anth = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json' },
    body: Buffer.concat([Buffer.from('{"max_tokens":5,"model":"x-'), Buffer.from([0xe0, 0x80]), Buffer.from('","messages":[{"role":"user","content":"x"}]}')]) });
  JSON.parse(strictUtf8.decode(Buffer.from(await anth.arrayBuffer())));
  let log = Buffer.alloc(0);
  for (let i = 0; i < 100 && !log.includes('bad-'); i++) {
    await sleep(50);
    log = readFileSync(join(gw.dir, 'access.log'));
  }
  const text = strictUtf8.decode(log); // the whole log stays valid UTF-8
  const line = text.split('\n').find((l) => l.includes('bad-'));
  assert.ok(line, 'the request is logged');
  assert.equal(JSON.parse(line).model, 'bad-\uFFFD\uFFFD\uFFFD');
});

test('CORS: an allowed origin\'s preflight is 204 with the right headers; a disallowed one gets no CORS headers', async () => {
  const pre = await fetch(`${gw.base}/v1/chat/completions`, { method: 'OPTIONS',
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type');
  assert.equal(pre.headers.get('access-control-max-age'), '300');
  assert.match(pre.headers.get('vary'), /Origin/);
  const real = await chat(hi('mock-gpt'), { headers: { origin: ORIGIN } });
  assert.equal(real.status, 200);
  assert.equal(real.headers.get('access-control-allow-origin'), ORIGIN);
  const evil = await fetch(`${gw.base}/v1/chat/completions`, { method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  assert.notEqual(evil.status, 204);
  for (const [k] of evil.headers) assert.doesNotMatch(k, /^access-control-/);
  const evilPost = await chat(hi('mock-gpt'), { headers: { origin: 'https://evil.example' } });
  assert.equal(evilPost.headers.get('access-control-allow-origin'), null);
});

test('CORS is off by default: no CORS headers without server.cors', async () => {
  const plain = await startGateway();
  try {
    const pre = await fetch(`${plain.base}/v1/chat/completions`, { method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    for (const [k] of pre.headers) assert.doesNotMatch(k, /^access-control-/);
    // and the CORS-enabled gateway above does answer the same preflight
    const on = await fetch(`${gw.base}/v1/chat/completions`, { method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
    assert.equal(on.status, 204);
  } finally {
    assert.equal(await plain.stop(), 0);
  }
});
