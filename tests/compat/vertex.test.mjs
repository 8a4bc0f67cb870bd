// vertex.test.mjs — kind: vertex end to end, offline: the official `openai`
// SDK -> gateway -> a Vertex AI fake (vertex_fake.mjs) that issues OAuth
// tokens for a service account's RS256-signed JWT and accepts only the
// bearer tokens it issued. Covered: Gemini on Vertex (generateContent,
// streamGenerateContent), Claude on Vertex (rawPredict, streamRawPredict:
// anthropic_version in the body, no model; /v1/messages relayed natively
// with thinking, cache_control and anthropic-beta untouched), one token for many requests,
// the refresh ahead of expiry with no request waiting, an expired token
// never used when refreshes fail (502) and recovery after the backoff, a
// failing token endpoint (clear 502) and a silent one (504 after
// token_timeout_ms, no hang), and --check-config refusing bad service accounts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, defaultConfig, repoRoot, TEST_KEY } from './harness.mjs';
import { makeServiceAccount, startVertexFake } from './vertex_fake.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const dir = mkdtempSync(join(tmpdir(), 'gr-vertex-'));
let fakes = {}, gw, client, anthropic;

const geminiAnswer = (text) => ({
  candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
  usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 4, totalTokenCount: 13 }, modelVersion: 'gemini-2.0-flash',
});
const claudeAnswer = (text) => ({
  id: 'msg_vx', type: 'message', role: 'assistant', model: 'claude-3-5-sonnet-v2@20241022',
  content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 11, output_tokens: 6 },
});
const script = (rec) => (rec.publisher === 'anthropic' ? claudeAnswer('Claude on Vertex.') : geminiAnswer('Gemini on Vertex.'));

// One fake with its own service account; the key's token_uri points at the fake.
async function fakeWithSa(opts = {}) {
  const sa = makeServiceAccount('http://placeholder/token');
  const f = await startVertexFake({ publicKey: sa.publicKey, clientEmail: sa.json.client_email, script, ...opts });
  sa.json.token_uri = `http://127.0.0.1:${f.port}/token`;
  f.sa = sa.json;
  return f;
}

before(async () => {
  fakes.main = await fakeWithSa();
  fakes.short = await fakeWithSa({ expiresIn: 4 });
  fakes.fail = await fakeWithSa();
  fakes.fail.tokenFail = 500;
  fakes.expire = await fakeWithSa({ expiresIn: 2 });
  fakes.hang = await fakeWithSa();
  fakes.hang.tokenFail = 'hang';
  const saPath = join(dir, 'sa.json');
  writeFileSync(saPath, JSON.stringify(fakes.main.sa));
  const prov = (name, f, extra) => `  - name: ${name}
    kind: vertex
    location: us-central1
    base_url: http://127.0.0.1:${f.port}
${extra}
`;
  gw = await startGateway({
    env: { GR_TEST_VERTEX_SA: JSON.stringify(fakes.short.sa) },
    config: (port, d) => defaultConfig(port, `
  - { name: gem-vx, provider: vx, model: gemini-2.0-flash, pricing: { input: 0.1, output: 0.4 }, capabilities: [chat, stream] }
  - { name: claude-vx, provider: vx, model: "claude-3-5-sonnet-v2@20241022", pricing: { input: 3, output: 15 }, capabilities: [chat, tools, stream] }
  - { name: gem-short, provider: vx-short, model: gemini-2.0-flash, capabilities: [chat, stream] }
  - { name: gem-fail, provider: vx-fail, model: gemini-2.0-flash, capabilities: [chat, stream] }
  - { name: gem-hang, provider: vx-hang, model: gemini-2.0-flash, capabilities: [chat, stream] }
  - { name: gem-expire, provider: vx-expire, model: gemini-2.0-flash, capabilities: [chat, stream] }
`, d).replace(`providers:
  - name: mock
    kind: mock
`, `providers:
  - name: mock
    kind: mock
${prov('vx', fakes.main, `    service_account: ${saPath}`)}${prov('vx-short', fakes.short, `    service_account: \${GR_TEST_VERTEX_SA}
    token_refresh_before_ms: 3000`)}${prov('vx-fail', fakes.fail, `    service_account: '${JSON.stringify(fakes.fail.sa)}'`)}${prov('vx-expire', fakes.expire, `    service_account: '${JSON.stringify(fakes.expire.sa)}'
    token_refresh_before_ms: 1000`)}${prov('vx-hang', fakes.hang, `    service_account: '${JSON.stringify(fakes.hang.sa)}'
    token_timeout_ms: 1500`)}`),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0 });
});

after(async () => {
  await gw?.stop();
  for (const f of Object.values(fakes)) await f.close();
});

const last = (f = fakes.main) => f.requests.at(-1);

test('Gemini on Vertex: generateContent with the issued bearer, no API key', async () => {
  const r = await client.chat.completions.create({ model: 'gem-vx', messages: [{ role: 'user', content: 'Hi' }] });
  const rec = last();
  assert.equal(rec.tokenOk, true);
  assert.equal(rec.url, '/v1/projects/gr-test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent');
  assert.equal(rec.headers['x-goog-api-key'], undefined);
  assert.deepEqual(rec.body.contents, [{ role: 'user', parts: [{ text: 'Hi' }] }]);
  assert.equal(r.choices[0].message.content, 'Gemini on Vertex.');
  assert.equal(r.usage.prompt_tokens, 9);
  assert.equal(fakes.main.jwtErrors.length, 0, fakes.main.jwtErrors.join());
});

test('Gemini on Vertex: streamGenerateContent?alt=sse', async () => {
  const stream = await client.chat.completions.create({ model: 'gem-vx', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }] });
  let text = '', usage = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content || '';
    if (c.usage) usage = c.usage;
  }
  assert.equal(last().url, '/v1/projects/gr-test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
  assert.equal(text, 'Gemini on Vertex.');
  assert.ok(usage && usage.cost > 0, JSON.stringify(usage));
});

test('Claude on Vertex: rawPredict / streamRawPredict, anthropic_version in the body, no model', async () => {
  const r = await client.chat.completions.create({ model: 'claude-vx', max_tokens: 50, messages: [{ role: 'system', content: 'Terse.' }, { role: 'user', content: 'Hi' }] });
  let rec = last();
  assert.equal(rec.tokenOk, true);
  assert.equal(rec.url, '/v1/projects/gr-test-project/locations/us-central1/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict');
  assert.equal(rec.body.anthropic_version, 'vertex-2023-10-16');
  assert.equal(rec.body.model, undefined);
  assert.equal(rec.body.system, 'Terse.');
  assert.equal(rec.headers['anthropic-version'], undefined);
  assert.equal(rec.headers['x-api-key'], undefined);
  assert.equal(r.choices[0].message.content, 'Claude on Vertex.');
  assert.ok(Math.abs(r.usage.cost - (11 * 3 + 6 * 15) / 1e6) < 1e-12, JSON.stringify(r.usage));
  const stream = await client.chat.completions.create({ model: 'claude-vx', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content || '';
  rec = last();
  assert.match(rec.url, /:streamRawPredict$/);
  assert.equal(rec.body.stream, true);
  assert.equal(text, 'Claude on Vertex.');
});

test('/v1/messages to Claude on Vertex is relayed natively: thinking, cache_control, anthropic-beta untouched', async () => {
  const req = {
    model: 'claude-vx', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, top_k: 5,
    system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } }] }],
    tools: [{ name: 'Read', description: 'read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }],
  };
  const msg = await anthropic.messages.create(req, { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } });
  let rec = last();
  assert.equal(rec.tokenOk, true);
  assert.match(rec.url, /\/publishers\/anthropic\/models\/claude-3-5-sonnet-v2@20241022:rawPredict$/);
  const { model, ...rest } = req;
  assert.deepEqual(rec.body, { anthropic_version: 'vertex-2023-10-16', ...rest });
  assert.ok(rec.raw.startsWith('{"anthropic_version":"vertex-2023-10-16",'), rec.raw.slice(0, 60));
  assert.equal(rec.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14');
  assert.equal(rec.headers['anthropic-version'], undefined);
  assert.equal(msg.content[0].text, 'Claude on Vertex.');
  assert.equal(msg.id, 'msg_vx'); // the upstream's own message, relayed
  const stream = await anthropic.messages.create({ ...req, stream: true });
  let text = '';
  for await (const ev of stream) if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
  rec = last();
  assert.match(rec.url, /:streamRawPredict$/);
  assert.equal(rec.body.stream, true);
  assert.equal(text, 'Claude on Vertex.');
});

test('one token serves many requests', async () => {
  await Promise.all([1, 2, 3, 4].map(() => client.chat.completions.create({ model: 'gem-vx', messages: [{ role: 'user', content: 'Hi' }] })));
  assert.equal(fakes.main.tokenCalls, 1);
  assert.equal(new Set(fakes.main.requests.map((r) => r.token)).size, 1);
});

test('the token is refreshed before it expires, off the request path', async () => {
  const f = fakes.short; // tokens live 4 s, refreshed 3 s ahead: every ~1 s, requests or not
  await client.chat.completions.create({ model: 'gem-short', messages: [{ role: 'user', content: 'Hi' }] });
  const first = last(f).token;
  const callsAfterFirst = f.tokenCalls;
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(f.tokenCalls >= callsAfterFirst + 1, `no background refresh: ${f.tokenCalls} token calls`);
  const t0 = Date.now();
  await client.chat.completions.create({ model: 'gem-short', messages: [{ role: 'user', content: 'Hi' }] });
  const took = Date.now() - t0;
  assert.equal(last(f).tokenOk, true);
  assert.notEqual(last(f).token, first);
  assert.ok(took < 1000, `the request waited ${took} ms`);
  assert.equal(f.jwtErrors.length, 0, f.jwtErrors.join());
});

test('a failing token endpoint -> a clear 502, fast', async () => {
  const t0 = Date.now();
  await assert.rejects(client.chat.completions.create({ model: 'gem-fail', messages: [{ role: 'user', content: 'Hi' }] }),
    (e) => e.status === 502 && e.error?.code === 'upstream_auth_failed' && /token endpoint .* returned HTTP 500: internal_failure — token service down/.test(e.message));
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(fakes.fail.requests.length, 0); // no model call without a token
  // again at once: the backoff answers without another token call
  const calls = fakes.fail.tokenCalls;
  await assert.rejects(client.chat.completions.create({ model: 'gem-fail', messages: [{ role: 'user', content: 'Hi' }] }), (e) => e.status === 502);
  assert.equal(fakes.fail.tokenCalls, calls);
});

test('a token that expires while every refresh fails is not used: 502, no call with a stale bearer', async () => {
  const f = fakes.expire; // tokens live 2 s, refreshed 1 s ahead
  await client.chat.completions.create({ model: 'gem-expire', messages: [{ role: 'user', content: 'Hi' }] });
  assert.equal(last(f).tokenOk, true);
  f.tokenFail = 500; // the refreshes from now on fail
  await new Promise((r) => setTimeout(r, 2300)); // past the expiry
  const calls = f.requests.length;
  await assert.rejects(client.chat.completions.create({ model: 'gem-expire', messages: [{ role: 'user', content: 'Hi' }] }),
    (e) => e.status === 502 && /token endpoint .* returned HTTP 500/.test(e.message));
  assert.equal(f.requests.length, calls, 'a model call was made with an expired token');
  f.tokenFail = null; // the endpoint recovers: after the backoff a new token serves again
  let ok = null;
  for (let i = 0; i < 40 && !ok; i++) {
    await new Promise((r) => setTimeout(r, 250));
    ok = await client.chat.completions.create({ model: 'gem-expire', messages: [{ role: 'user', content: 'Hi' }] }).catch(() => null);
  }
  assert.ok(ok, 'no recovery after the token endpoint came back');
  assert.equal(last(f).tokenOk, true);
});

test('a token endpoint that never answers -> 504 after token_timeout_ms, no hang', async () => {
  const t0 = Date.now();
  await assert.rejects(client.chat.completions.create({ model: 'gem-hang', messages: [{ role: 'user', content: 'Hi' }] }),
    (e) => (e.status === 504 || e.status === 502) && /Vertex AI access token/.test(e.message));
  const took = Date.now() - t0;
  assert.ok(took >= 1400 && took < 6000, `took ${took} ms`);
});

test('--check-config refuses a missing, unreadable or malformed service account, and a missing location', () => {
  const good = JSON.stringify(fakes.main.sa);
  const check = (provider, env = {}) => {
    const path = join(dir, `c${Math.random()}.yaml`);
    writeFileSync(path, `store: "sqlite://${dir}/g.db"\nproviders:\n${provider}\nmodels:\n  - { name: m, provider: v, model: gemini-2.0-flash }\n`);
    const e = { ...process.env, ...env };
    delete e.GOOGLE_APPLICATION_CREDENTIALS;
    return spawnSync(BIN, ['--check-config', path], { env: e, encoding: 'utf8' });
  };
  const cases = [
    ['  - { name: v, kind: vertex, location: us-central1 }', /kind vertex needs a service-account key/],
    [`  - { name: v, kind: vertex, location: us-central1, service_account: ${join(dir, 'nope.json')} }`, /cannot read the service-account file/],
    ["  - { name: v, kind: vertex, location: us-central1, service_account: '{\"type\": \"service_account\"' }", /not valid JSON/],
    [`  - { name: v, kind: vertex, location: us-central1, service_account: '${good.replace('PRIVATE KEY-----\\n', 'PRIVATE KEY-----\\nAAAA')}' }`, /private_key is not a PEM RSA private key/],
    [`  - { name: v, kind: vertex, service_account: '${good}' }`, /location: kind vertex needs a location/],
  ];
  for (const [p, want] of cases) {
    const r = check(p);
    assert.notEqual(r.status, 0, p);
    assert.match(r.stderr + r.stdout, want);
    assert.ok(!(r.stderr + r.stdout).includes('PRIVATE KEY'), 'the key is never printed');
  }
  const ok = check(`  - { name: v, kind: vertex, location: us-central1, service_account: '${good}' }`);
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
});
