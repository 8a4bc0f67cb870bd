// openai_sdk.test.mjs — the official `openai` npm SDK, unchanged (only baseURL
// and apiKey set), against a running gateway + the built-in mock upstream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, TEST_KEY } from './harness.mjs';

let gw, client;
before(async () => {
  gw = await startGateway();
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
});
after(async () => { const code = await gw.stop(); assert.equal(code, 0, 'gateway drains and exits 0 on SIGTERM'); });

test('chat completion, non-streaming', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.match(data.choices[0].message.content, /You said: Say hello/);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
  assert.equal(response.headers.get('x-gaterouter-model'), 'mock-gpt');
  assert.equal(response.headers.get('x-gaterouter-provider'), 'mock');
  assert.match(response.headers.get('x-request-id'), /^req_/);
});

test('x-request-id is honoured', async () => {
  const { response } = await client.chat.completions
    .create({ model: 'mock-gpt', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': 'trace-abc-123' } })
    .withResponse();
  assert.equal(response.headers.get('x-request-id'), 'trace-abc-123');
});

test('chat completion, streaming: all deltas and final usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Stream me [[mock:tokens=25]]' }],
  });
  let text = '', chunks = 0, usage = null, finish = null;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) { text += ch.delta?.content ?? ''; if (ch.finish_reason) finish = ch.finish_reason; }
  }
  assert.equal(text.trim().split(/\s+/).length, 25);
  assert.equal(finish, 'stop');
  assert.ok(chunks >= 26);
  assert.ok(usage && usage.completion_tokens === 25, `usage ${JSON.stringify(usage)}`);
});

test('streaming without include_usage gets no usage chunk (the gateway asked for one upstream only for metering)', async () => {
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  let emptyChoiceChunks = 0, text = '';
  for await (const c of stream) {
    if (c.choices.length === 0) emptyChoiceChunks++;
    text += c.choices[0]?.delta?.content ?? '';
  }
  assert.equal(emptyChoiceChunks, 0);
  assert.match(text, /You said: hi/);
});

test('tools round trip', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } }];
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  const msg = first.choices[0].message;
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.tool_calls.length, 1);
  assert.equal(msg.tool_calls[0].function.name, 'get_weather');
  const args = JSON.parse(msg.tool_calls[0].function.arguments);
  assert.equal(typeof args.city, 'string');
  messages.push(msg, { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: '{"temp_c": 21}' });
  const second = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
  assert.match(second.choices[0].message.content, /temp_c/);
});

test('tools, streamed: argument deltas reassemble', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } },
                 { type: 'function', function: { name: 'other', parameters: { type: 'object', properties: { n: { type: 'number' } } } } }];
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, tools,
    messages: [{ role: 'user', content: 'go [[mock:parallel_tools]]' }] });
  const calls = [];
  for await (const c of stream) {
    for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
      calls[tc.index] ??= { name: '', args: '' };
      if (tc.function?.name) calls[tc.index].name = tc.function.name;
      calls[tc.index].args += tc.function?.arguments ?? '';
    }
  }
  assert.deepEqual(calls.map((c) => c.name), ['lookup', 'other']);
  assert.deepEqual(JSON.parse(calls[0].args), { q: 'mock' });
  assert.deepEqual(JSON.parse(calls[1].args), { n: 1 });
});

test('embeddings (SDK default base64 encoding and float)', async () => {
  const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
  assert.equal(r.data.length, 2);
  assert.equal(r.data[0].embedding.length, 16);
  const norm = Math.sqrt(r.data[0].embedding.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(norm - 1) < 1e-3);
  const f = await client.embeddings.create({ model: 'mock-embed', input: 'alpha', encoding_format: 'float', dimensions: 8 });
  assert.equal(f.data[0].embedding.length, 8);
  assert.ok(r.data[0].embedding.every((x, i) => i >= 8 || Math.abs(x) <= 1));
});

test('legacy completions', async () => {
  const r = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'Once upon a time', max_tokens: 5 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].finish_reason, 'length');
});

test('models list and retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('mock-gpt') && ids.includes('gpt-4o-mini') && ids.includes('mock-embed'));
  const m = await client.models.retrieve('gpt-4o-mini');
  assert.equal(m.id, 'gpt-4o-mini');
  await assert.rejects(client.models.retrieve('no-such-model'), OpenAI.NotFoundError);
});

test('bad key -> AuthenticationError (401)', async () => {
  const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-wrong-key-000000', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && /Incorrect API key/.test(e.message));
});

test('unknown model -> NotFoundError (404)', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gpt-17', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});

test('upstream 429 keeps status, type and message', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'mock-faults', messages: [{ role: 'user', content: '[[mock:status=429]]' }] }),
    (e) => e instanceof OpenAI.RateLimitError && /simulated HTTP 429/.test(e.message));
});

test('upstream 500 -> InternalServerError with the upstream message', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'mock-faults', messages: [{ role: 'user', content: '[[mock:status=500]]' }] }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 500 && /simulated HTTP 500/.test(e.message));
});

test('upstream dies mid-stream -> the SDK raises, no hang', async () => {
  const stream = await client.chat.completions.create({ model: 'mock-faults', stream: true,
    messages: [{ role: 'user', content: '[[mock:tokens=40]] [[mock:cut]] [[mock:tps=400]]' }] });
  await assert.rejects((async () => { for await (const _ of stream) { /* drain */ } })(), /upstream/);
});

test('body over the limit -> 413 in OpenAI shape', async () => {
  const huge = 'x'.repeat(1100 * 1024);
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: huge }] }),
    (e) => e.status === 413 && e.code === 'request_too_large');
});

test('malformed JSON -> 400 invalid_request_error', async () => {
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', body: '{"model":', headers: { authorization: `Bearer ${TEST_KEY}` } });
  assert.equal(r.status, 400);
  const j = await r.json();
  assert.equal(j.error.type, 'invalid_request_error');
  assert.equal(j.error.code, 'invalid_json');
});

test('client abort mid-stream cancels the upstream transfer (the mock sees it)', async () => {
  const stats = async () => (await fetch(`http://127.0.0.1:${gw.mockPort}/mock/stats`)).json();
  const before = await stats();
  const ac = new AbortController();
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true,
    messages: [{ role: 'user', content: '[[mock:tokens=500]] [[mock:tps=50]]' }] }, { signal: ac.signal });
  let n = 0;
  try { for await (const _ of stream) { if (++n === 3) ac.abort(); } } catch { /* AbortError is fine too */ }
  assert.ok(n >= 3 && n < 100, `stopped after ${n} chunks`);
  let after = before;
  for (let i = 0; i < 50 && after.streams_cancelled === before.streams_cancelled; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await stats();
  }
  assert.equal(after.streams_cancelled, before.streams_cancelled + 1, 'upstream stream was cancelled');
});

test('health, ready and metrics', async () => {
  assert.equal((await fetch(`${gw.base}/health`)).status, 200);
  assert.equal((await fetch(`${gw.base}/ready`)).status, 200);
  const text = await (await fetch(`${gw.base}/metrics`)).text();
  assert.match(text, /gaterouter_requests_total\{route="\/v1\/chat\/completions",status="200",model="mock-gpt",provider="mock"\} \d+/);
  assert.match(text, /gaterouter_time_to_first_token_seconds_bucket/);
  assert.match(text, /gaterouter_streams_cancelled_total [1-9]/);
});
