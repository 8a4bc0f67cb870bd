// native.test.mjs — native adapters end to end, offline.
//
// Part A: the official `openai` SDK -> gateway -> provider of kind `anthropic`
//         / `gemini` -> the mock upstream speaking Anthropic Messages / Gemini
//         generateContent natively (a standalone `gaterouter mock`).
// Part B: the official `@anthropic-ai/sdk` -> gateway `POST /v1/messages`
//         (inbound Anthropic endpoint) -> the built-in mock OpenAI upstream.
//
// The standalone mock is started first (its port must be in the gateway config)
// and killed in after().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, startStandaloneMock, withNativeProviders, defaultConfig, TEST_KEY } from './harness.mjs';


let mock, mockPort, gw, client, anthropic;

async function startMock() {
  mock = await startStandaloneMock();
  mockPort = mock.port;
}

const faults = (model) => model.replace('-mock', '-faults');
const mockStats = async () => (await fetch(`http://127.0.0.1:${mockPort}/mock/stats`)).json();

before(async () => {
  await startMock();
  gw = await startGateway({
    // its own temp dir: the store must not be /tmp/gaterouter.db, shared by every run on the machine
    config: (port, dir) => withNativeProviders(defaultConfig(port, `
  - name: claude-mock
    provider: anth
    model: claude-mock-1
    capabilities: [chat, tools, stream]
  - name: gemini-mock
    provider: gem
    model: gemini-mock-1
    capabilities: [chat, tools, stream]
  # Fault-injection tests use their own deployments: their failures feed the
  # circuit breaker and must not cool down the deployments other tests use.
  - { name: claude-faults, provider: anth, model: claude-faults-1, capabilities: [chat, tools, stream] }
  - { name: gemini-faults, provider: gem, model: gemini-faults-1, capabilities: [chat, tools, stream] }
  - { name: gemini-embed-mock, provider: gem, model: gemini-embed-mock-1, capabilities: [embeddings] }
`, dir), mockPort),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
  // The Anthropic SDK appends /v1/messages to baseURL and sends x-api-key.
  anthropic = new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0 });
});

after(async () => {
  if (gw) {
    const code = await gw.stop();
    assert.equal(code, 0, 'gateway drains and exits 0 on SIGTERM');
  }
  if (mock) {
    const code = await mock.stop();
    assert.equal(code, 0, `mock exits 0 on SIGTERM (sanitizer builds: no leak report)\n${mock.logs()}`);
    assert.doesNotMatch(mock.logs(), /AddressSanitizer|LeakSanitizer|runtime error/, mock.logs());
  }
});

const weatherTool = { type: 'function', function: { name: 'get_weather', description: 'Weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } };
const twoTools = [
  { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } },
  { type: 'function', function: { name: 'other', parameters: { type: 'object', properties: { n: { type: 'number' } } } } },
];

// ---------------------------------------------------------------------------
// Part A: openai SDK -> gateway -> native adapters -> mock (Anthropic / Gemini)
// ---------------------------------------------------------------------------

for (const { label, model, upstream } of [
  { label: 'anthropic', model: 'claude-mock', upstream: 'claude-mock-1' },
  { label: 'gemini', model: 'gemini-mock', upstream: 'gemini-mock-1' },
]) {
  test(`[openai sdk -> ${label}] text, non-streaming`, async () => {
    const { data, response } = await client.chat.completions
      .create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }] })
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.role, 'assistant');
    assert.match(data.choices[0].message.content, new RegExp(`mock model ${upstream}\\. You said: Say hello`));
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.ok(data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0, JSON.stringify(data.usage));
    assert.equal(data.usage.total_tokens, data.usage.prompt_tokens + data.usage.completion_tokens);
    assert.equal(response.headers.get('x-gaterouter-model'), model);
  });

  test(`[openai sdk -> ${label}] max_tokens cut -> finish_reason length`, async () => {
    const r = await client.chat.completions.create({ model, max_tokens: 4,
      messages: [{ role: 'user', content: 'count [[mock:tokens=10]]' }] });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.choices[0].message.content.trim().split(/\s+/).length, 4);
  });

  test(`[openai sdk -> ${label}] text, streaming: content and final usage`, async () => {
    const stream = await client.chat.completions.create({
      model, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Stream me [[mock:tokens=25]]' }],
    });
    let text = '', usage = null, finish = null, role = null, usageChunks = 0;
    for await (const c of stream) {
      if (c.usage) { usage = c.usage; usageChunks++; assert.deepEqual(c.choices, []); }
      for (const ch of c.choices) {
        text += ch.delta?.content ?? '';
        if (ch.delta?.role) role = ch.delta.role;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    assert.equal(text.trim().split(/\s+/).length, 25);
    assert.match(text, /^lorem ipsum dolor/);
    assert.equal(role, 'assistant');
    assert.equal(finish, 'stop');
    assert.equal(usageChunks, 1);
    assert.ok(usage && usage.completion_tokens === 25 && usage.prompt_tokens > 0, `usage ${JSON.stringify(usage)}`);
  });

  test(`[openai sdk -> ${label}] streaming without include_usage: no usage chunk`, async () => {
    const stream = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let text = '', empty = 0;
    for await (const c of stream) {
      if (c.choices.length === 0) empty++;
      text += c.choices[0]?.delta?.content ?? '';
    }
    assert.equal(empty, 0);
    assert.match(text, /You said: hi/);
  });

  test(`[openai sdk -> ${label}] tools round trip (tool_calls, then the tool result)`, async () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const first = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
    const msg = first.choices[0].message;
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(msg.tool_calls.length, 1);
    assert.equal(msg.tool_calls[0].type, 'function');
    assert.equal(msg.tool_calls[0].function.name, 'get_weather');
    assert.ok(msg.tool_calls[0].id, 'tool call has an id');
    assert.deepEqual(JSON.parse(msg.tool_calls[0].function.arguments), { city: 'mock', days: 1 });
    messages.push(msg, { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: '{"temp_c": 21}' });
    const second = await client.chat.completions.create({ model, messages, tools: [weatherTool] });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.match(second.choices[0].message.content, /The tool returned: .*temp_c.*21/);
  });

  test(`[openai sdk -> ${label}] forced tool_choice picks that tool`, async () => {
    const r = await client.chat.completions.create({ model, tools: twoTools,
      tool_choice: { type: 'function', function: { name: 'other' } },
      messages: [{ role: 'user', content: 'go' }] });
    assert.deepEqual(r.choices[0].message.tool_calls.map((t) => t.function.name), ['other']);
  });

  test(`[openai sdk -> ${label}] tools, streamed: argument deltas reassemble`, async () => {
    const stream = await client.chat.completions.create({ model, stream: true, tools: twoTools,
      messages: [{ role: 'user', content: 'go [[mock:parallel_tools]]' }] });
    const calls = [];
    let finish = null;
    for await (const c of stream) {
      const ch = c.choices[0];
      if (ch?.finish_reason) finish = ch.finish_reason;
      for (const tc of ch?.delta?.tool_calls ?? []) {
        calls[tc.index] ??= { id: '', name: '', args: '' };
        if (tc.id) calls[tc.index].id = tc.id;
        if (tc.function?.name) calls[tc.index].name = tc.function.name;
        calls[tc.index].args += tc.function?.arguments ?? '';
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(calls.map((c) => c.name), ['lookup', 'other']);
    assert.ok(calls.every((c) => c.id), 'every streamed tool call has an id');
    assert.deepEqual(JSON.parse(calls[0].args), { q: 'mock' });
    assert.deepEqual(JSON.parse(calls[1].args), { n: 1 });
  });

  test(`[openai sdk -> ${label}] upstream 429 -> RateLimitError, message preserved`, async () => {
    await assert.rejects(client.chat.completions.create({ model: faults(model), messages: [{ role: 'user', content: '[[mock:status=429]]' }] }),
      (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && /simulated HTTP 429/.test(e.message));
  });

  test(`[openai sdk -> ${label}] upstream 429 on a stream request -> RateLimitError`, async () => {
    await assert.rejects((async () => {
      const s = await client.chat.completions.create({ model: faults(model), stream: true, messages: [{ role: 'user', content: '[[mock:status=429]]' }] });
      for await (const _ of s) { /* drain */ }
    })(), (e) => e instanceof OpenAI.RateLimitError && /simulated HTTP 429/.test(e.message));
  });

  test(`[openai sdk -> ${label}] client abort mid-stream cancels the native upstream stream`, async () => {
    const before = await mockStats();
    const ac = new AbortController();
    const stream = await client.chat.completions.create({ model, stream: true,
      messages: [{ role: 'user', content: '[[mock:tokens=500]] [[mock:tps=50]]' }] }, { signal: ac.signal });
    let n = 0;
    try { for await (const _ of stream) { if (++n === 3) ac.abort(); } } catch { /* AbortError is fine too */ }
    assert.ok(n >= 3 && n < 100, `stopped after ${n} chunks`);
    let now = before;
    for (let i = 0; i < 50 && now.streams_cancelled === before.streams_cancelled; i++) {
      await new Promise((r) => setTimeout(r, 20));
      now = await mockStats();
    }
    assert.equal(now.streams_cancelled, before.streams_cancelled + 1, 'upstream stream was cancelled');
  });
}

test('[openai sdk -> anthropic] upstream 529 overloaded_error -> 503 InternalServerError, message preserved', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'claude-faults', messages: [{ role: 'user', content: '[[mock:status=529]]' }] }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 503 && /simulated HTTP 529/.test(e.message));
});

test('[openai sdk -> gemini] upstream 503 UNAVAILABLE -> 503 InternalServerError, message preserved', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gemini-faults', messages: [{ role: 'user', content: '[[mock:status=503]]' }] }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 503 && /simulated HTTP 503/.test(e.message));
});

test('[openai sdk -> gemini] upstream 400 -> BadRequestError, message preserved', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gemini-faults', messages: [{ role: 'user', content: '[[mock:status=400]]' }] }),
    (e) => e instanceof OpenAI.BadRequestError && /simulated HTTP 400/.test(e.message));
});

// Direct checks of the mock's native voice (no gateway), so a failure above can
// be told apart from a mock bug.
test('[mock] speaks Anthropic and Gemini natively (direct)', async () => {
  const a = await fetch(`http://127.0.0.1:${mockPort}/v1/messages`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-x', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(a.status, 200);
  const am = await a.json();
  assert.equal(am.type, 'message');
  assert.equal(am.stop_reason, 'end_turn');
  assert.match(am.content[0].text, /You said: hi/);

  const e = await fetch(`http://127.0.0.1:${mockPort}/v1/messages`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-x', max_tokens: 64, messages: [{ role: 'user', content: '[[mock:status=529]]' }] }) });
  assert.equal(e.status, 529);
  assert.deepEqual(await e.json(), { type: 'error', error: { type: 'overloaded_error', message: 'mock upstream error: simulated HTTP 529' } });

  const s = await fetch(`http://127.0.0.1:${mockPort}/v1beta/models/gemini-x:streamGenerateContent?alt=sse`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi [[mock:tokens=3]]' }] }] }) });
  assert.equal(s.status, 200);
  assert.match(s.headers.get('content-type'), /text\/event-stream/);
  const events = (await s.text()).split('\r\n\r\n').filter(Boolean).map((x) => JSON.parse(x.replace(/^data: /, '')));
  assert.equal(events.map((x) => x.candidates[0]?.content.parts[0].text ?? '').join(''), 'lorem ipsum dolor ');
  assert.equal(events.at(-1).candidates[0].finishReason, 'STOP');
  assert.equal(events.at(-1).usageMetadata.candidatesTokenCount, 3);

  const g = await fetch(`http://127.0.0.1:${mockPort}/v1beta/models/gemini-x:generateContent`, { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contents: [] }) });
  assert.equal(g.status, 403, 'no API key -> PERMISSION_DENIED like Google');
  assert.equal((await g.json()).error.status, 'PERMISSION_DENIED');
});

// Stream timing. The benchmark's "OpenAI→Anthropic" streaming row compares the
// gateway's translated stream with the mock's OpenAI stream, so the mock's
// native streams must be paced like the real services: Anthropic sends
// message_start, content_block_start and a ping at once, then paced deltas,
// then content_block_stop + message_delta + message_stop together; Gemini puts
// finishReason and usageMetadata in one last chunk. (The closing events used to
// go out one pace apart, which left one 2-pace gap in every translated stream:
// gap p99 40.9 ms at a 20 ms pace in the 2026-11-25 run.)
const PACE_MS = 100;

// [{ t: ms since the request, text: the SSE event }] as each read arrives
// (events completed by the same read share its timestamp).
async function timedEvents(url, init, sep) {
  const t0 = performance.now();
  const r = await fetch(url, init);
  assert.equal(r.status, 200);
  const out = [];
  let buf = '';
  const dec = new TextDecoder();
  for await (const bytes of r.body) {
    const t = performance.now() - t0;
    buf += dec.decode(bytes, { stream: true });
    let i;
    while ((i = buf.indexOf(sep)) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + sep.length);
      if (ev.trim()) out.push({ t, text: ev });
    }
  }
  return out;
}
const maxGap = (evs) => Math.max(...evs.slice(1).map((e, i) => e.t - evs[i].t));

test('[mock] native streams are paced like the real services (opening and closing events together)', async () => {
  const prompt = `pace me [[mock:tokens=3]] [[mock:tps=${1000 / PACE_MS}]]`;
  const a = await timedEvents(`http://127.0.0.1:${mockPort}/v1/messages`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-x', max_tokens: 64, stream: true, messages: [{ role: 'user', content: prompt }] }) }, '\n\n');
  const names = a.map((e) => /^event: (\S+)/.exec(e.text)?.[1]);
  const at = (n) => a[names.indexOf(n)].t;
  assert.ok(at('content_block_delta') - at('message_start') < PACE_MS / 2, 'message_start .. first delta: one burst');
  assert.ok(at('message_stop') - at('content_block_stop') < PACE_MS / 2,
    `content_block_stop, message_delta, message_stop go out together: ${a.map((e) => e.t.toFixed(1))}`);
  assert.ok(maxGap(a) < PACE_MS * 1.5, `no gap above one pace: ${a.map((e) => e.t.toFixed(1))}`);
  assert.deepEqual(names, ['message_start', 'content_block_start', 'ping', 'content_block_delta',
    'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  assert.match(a[2].text, /^event: ping\ndata: \{"type":"ping"\}$/);

  const g = await timedEvents(`http://127.0.0.1:${mockPort}/v1beta/models/gemini-x:streamGenerateContent?alt=sse`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: prompt }] }] }) }, '\r\n\r\n');
  assert.equal(g.length, 4, 'three text chunks, then finishReason + usageMetadata');
  assert.ok(maxGap(g) < PACE_MS * 1.5, `no gap above one pace: ${g.map((e) => e.t.toFixed(1))}`);
});

for (const model of ['claude-mock', 'gemini-mock']) {
  test(`[gateway -> ${model}] translated stream keeps the upstream's pace (no event held back)`, async () => {
    const evs = await timedEvents(`${gw.baseURL}/chat/completions`, { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      body: JSON.stringify({ model, stream: true,
        messages: [{ role: 'user', content: `pace me [[mock:tokens=4]] [[mock:tps=${1000 / PACE_MS}]]` }] }) }, '\n\n');
    const data = evs.filter((e) => e.text.startsWith('data: ') && e.text !== 'data: [DONE]');
    assert.ok(data.length >= 5, `4 deltas and a finish chunk: ${evs.length} events`);
    assert.match(data.at(-1).text, /"finish_reason":"stop"/);
    assert.ok(maxGap(data) < PACE_MS * 1.5, `no gap above one pace: ${data.map((e) => e.t.toFixed(1))}`);
  });
}

// ---------------------------------------------------------------------------
// Part B: @anthropic-ai/sdk -> gateway POST /v1/messages -> mock OpenAI upstream
// (the gateway's inbound Anthropic endpoint; 404 here means it is not wired yet)
// ---------------------------------------------------------------------------

test('[anthropic sdk -> /v1/messages] messages.create, non-streaming', async () => {
  const msg = await anthropic.messages.create({
    model: 'gpt-4o-mini', max_tokens: 256, system: 'Be brief.',
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.match(msg.id, /^msg_/);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.match(msg.content[0].text, /You said: Say hello/);
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
});

test('[anthropic sdk -> /v1/messages] max_tokens -> stop_reason max_tokens', async () => {
  const msg = await anthropic.messages.create({ model: 'gpt-4o-mini', max_tokens: 3,
    messages: [{ role: 'user', content: 'count [[mock:tokens=10]]' }] });
  assert.equal(msg.stop_reason, 'max_tokens');
  assert.equal(msg.usage.output_tokens, 3);
});

test('[anthropic sdk -> /v1/messages] messages.stream: text events and finalMessage', async () => {
  const stream = anthropic.messages.stream({ model: 'gpt-4o-mini', max_tokens: 256,
    messages: [{ role: 'user', content: 'Stream me [[mock:tokens=12]]' }] });
  let text = '';
  const types = [];
  stream.on('text', (t) => { text += t; });
  stream.on('streamEvent', (ev) => { types.push(ev.type); });
  const final = await stream.finalMessage();
  assert.equal(text.trim().split(/\s+/).length, 12);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.ok(types.includes('content_block_start') && types.includes('content_block_delta') && types.includes('message_delta'));
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(final.content[0].type, 'text');
  assert.equal(final.content[0].text, text);
  assert.equal(final.usage.output_tokens, 12);
});

test('[anthropic sdk -> /v1/messages] messages.create({stream:true}) raw events', async () => {
  const stream = await anthropic.messages.create({ model: 'gpt-4o-mini', max_tokens: 256, stream: true,
    messages: [{ role: 'user', content: 'hi [[mock:tokens=5]]' }] });
  let text = '', stop = null;
  for await (const ev of stream) {
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') stop = ev.delta.stop_reason;
  }
  assert.equal(text, 'lorem ipsum dolor sit amet ');
  assert.equal(stop, 'end_turn');
});

const anthTools = [{ name: 'get_weather', description: 'Weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } }];

test('[anthropic sdk -> /v1/messages] tools round trip (tool_use -> tool_result)', async () => {
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const first = await anthropic.messages.create({ model: 'gpt-4o-mini', max_tokens: 256, tools: anthTools, messages });
  assert.equal(first.stop_reason, 'tool_use');
  const uses = first.content.filter((b) => b.type === 'tool_use');
  assert.equal(uses.length, 1);
  assert.equal(uses[0].name, 'get_weather');
  assert.ok(uses[0].id);
  assert.deepEqual(uses[0].input, { city: 'mock', days: 1 });
  messages.push({ role: 'assistant', content: first.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: uses[0].id, content: '{"temp_c": 21}' }] });
  const second = await anthropic.messages.create({ model: 'gpt-4o-mini', max_tokens: 256, tools: anthTools, messages });
  assert.equal(second.stop_reason, 'end_turn');
  assert.match(second.content.find((b) => b.type === 'text').text, /The tool returned: .*temp_c.*21/);
});

test('[anthropic sdk -> /v1/messages] tools, streamed: input_json_delta reassembles into tool_use input', async () => {
  const stream = anthropic.messages.stream({ model: 'gpt-4o-mini', max_tokens: 256,
    tools: [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } },
            { name: 'other', input_schema: { type: 'object', properties: { n: { type: 'number' } } } }],
    messages: [{ role: 'user', content: 'go [[mock:parallel_tools]]' }] });
  let jsonDeltas = 0;
  stream.on('streamEvent', (ev) => { if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') jsonDeltas++; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const uses = final.content.filter((b) => b.type === 'tool_use');
  assert.deepEqual(uses.map((u) => u.name), ['lookup', 'other']);
  assert.deepEqual(uses[0].input, { q: 'mock' });
  assert.deepEqual(uses[1].input, { n: 1 });
  assert.ok(jsonDeltas >= 2, `saw ${jsonDeltas} input_json_delta events`);
});

test('[anthropic sdk -> /v1/messages] upstream 429 -> RateLimitError in Anthropic shape', async () => {
  await assert.rejects(anthropic.messages.create({ model: 'mock-faults', max_tokens: 64,
    messages: [{ role: 'user', content: '[[mock:status=429]]' }] }),
  (e) => e instanceof Anthropic.RateLimitError && e.status === 429 &&
    e.error?.type === 'error' && e.error?.error?.type === 'rate_limit_error' && /simulated HTTP 429/.test(e.message));
});

test('[anthropic sdk -> /v1/messages] unknown model -> NotFoundError', async () => {
  await assert.rejects(anthropic.messages.create({ model: 'no-such-model', max_tokens: 16,
    messages: [{ role: 'user', content: 'x' }] }),
  (e) => e instanceof Anthropic.NotFoundError && e.error?.type === 'error');
});

test('gemini embeddings through the mock (embedContent / batchEmbedContents): the same vectors the mock gives on /v1/embeddings', async () => {
  const gem = await client.embeddings.create({ model: 'gemini-embed-mock', input: ['alpha', 'beta'] });
  const ref = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
  assert.equal(gem.data.length, 2);
  for (let i = 0; i < 2; i++) {
    assert.equal(gem.data[i].embedding.length, 16);
    gem.data[i].embedding.forEach((x, j) => assert.ok(Math.abs(x - ref.data[i].embedding[j]) < 1e-6, `${i}/${j}`));
  }
  const one = await client.embeddings.create({ model: 'gemini-embed-mock', input: 'alpha', dimensions: 4, encoding_format: 'float' });
  assert.equal(one.data[0].embedding.length, 4);
});
