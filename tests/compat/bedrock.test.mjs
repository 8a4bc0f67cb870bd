// bedrock.test.mjs — kind: bedrock end to end, offline: the official `openai`
// SDK (and `@anthropic-ai/sdk` on /v1/messages, relayed natively to Claude
// through InvokeModel / InvokeModelWithResponseStream) -> gateway -> a recording
// Bedrock fake (bedrock_fake.mjs) that verifies every SigV4 signature with its
// own implementation and streams real binary event-stream frames.
// Covered: chat, streaming (usage and cost on the last chunk), tools over
// three turns, reasoning, embeddings (Titan and Cohere, floats and base64),
// credentials from the environment, ThrottlingException -> 429,
// ValidationException -> 400, AccessDeniedException and a rejected
// signature -> 502 with none of the credentials in the reply, a mid-stream
// exception -> in-band error, and
// --check-config refusing a bedrock provider without credentials or region.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, defaultConfig, repoRoot, TEST_KEY } from './harness.mjs';
import { startBedrockFake } from './bedrock_fake.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const CLAUDE = 'anthropic.claude-3-5-sonnet-20241022-v2:0';
const CREDS = {
  accessKeyId: 'AKIAGATEROUTERTEST01',
  secretAccessKey: 'gr/Test+Secret/Key/0123456789abcdefghijklmn',
  sessionToken: 'IQoJb3JpZ2luX2VjEGateRouterSessionToken//////////wEaCXVzLXdlc3QtMiJH',
  region: 'us-west-2',
};
const ENV_CREDS = { accessKeyId: 'AKIAFROMTHEENVIRON01', secretAccessKey: 'env/Secret/Key/abcdefghijklmnopqrstuvwxyz01' };

let fake, envFake, gw, client, anthropic;

const lastUserText = (body) => {
  const users = (body.messages || []).filter((m) => m.role === 'user');
  const blocks = users.at(-1)?.content || [];
  return blocks.filter((b) => b.text !== undefined).map((b) => b.text).join('');
};

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const convertTool = {
  type: 'function',
  function: { name: 'to_fahrenheit', parameters: { type: 'object', properties: { celsius: { type: 'number' } } } },
};

// The fake's script: what Bedrock answers, by the last user text or the turn.
// Claude through InvokeModel (the /v1/messages relay): an Anthropic message,
// streamed as event-stream `chunk` frames of {"bytes": base64(event)}.
const claudeMessage = { id: 'msg_bdrk_1', type: 'message', role: 'assistant', model: CLAUDE,
  content: [{ type: 'thinking', thinking: 'Say hi.', signature: 'EqBedrockSig==' }, { type: 'text', text: 'Hello from Claude on Bedrock.' }],
  stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 21, output_tokens: 9 } };
const chunk = (ev) => ({ event: 'chunk', payload: { bytes: Buffer.from(JSON.stringify(ev)).toString('base64'), p: 'abcd' } });
function claudeEvents(streamFail) {
  const { content, usage, ...head } = claudeMessage;
  const evs = [
    { type: 'message_start', message: { ...head, content: [], stop_reason: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Say hi.' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqBedrockSig==' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hello from Claude on Bedrock.' } },
  ].map(chunk);
  if (streamFail) return [...evs, { exception: 'throttlingException', payload: { message: 'Too many tokens, please wait.' } }];
  return [...evs, ...[
    { type: 'content_block_stop', index: 1 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
    { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 21, outputTokenCount: 9, invocationLatency: 40, firstByteLatency: 20 } },
  ].map(chunk)];
}

async function script(rec, body) {
  if (rec.modelId.startsWith('anthropic.') && rec.op.startsWith('invoke')) {
    const text = body.messages.at(-1).content;
    if (text === 'THROTTLE') return { status: 429, type: 'ThrottlingException', message: 'Too many requests, please wait before trying again.' };
    if (rec.op === 'invoke') return { json: claudeMessage };
    return { events: claudeEvents(text === 'STREAMFAIL') };
  }
  if (rec.op === 'invoke') {
    if (rec.modelId.startsWith('amazon.titan-embed')) return { json: { embedding: [0.5, -0.25, 0.125], inputTextTokenCount: 7 } };
    return { json: { id: 'c1', response_type: 'embeddings_floats', embeddings: body.texts.map((t, i) => [i, 0.5, t.length]), texts: body.texts } };
  }
  const text = lastUserText(body);
  if (text === 'THROTTLE') return { status: 429, type: 'ThrottlingException', message: 'Too many requests, please wait before trying again.' };
  if (text === 'INVALID') return { status: 400, type: 'ValidationException', message: 'The provided model identifier is invalid.' };
  if (text === 'DENIED') { // as AWS words it, here also echoing what the gateway sent
    return { status: 403, type: 'AccessDeniedException',
      message: `User: arn:aws:sts::123456789012:assumed-role/gr/${rec.headers['x-amz-security-token']} is not authorized to perform: bedrock:InvokeModel (${rec.headers.authorization})` };
  }
  if (text === 'STREAMFAIL') {
    return { events: [
      { event: 'messageStart', payload: { role: 'assistant' } },
      { event: 'contentBlockDelta', payload: { contentBlockIndex: 0, delta: { text: 'Par' } } },
      { exception: 'modelStreamErrorException', payload: { message: 'The model stream failed.' } },
    ] };
  }
  if (text === 'THINK') {
    return { message: { role: 'assistant', content: [{ reasoningContent: { reasoningText: { text: '2+2 is 4.', signature: 's' } } }, { text: 'Four.' }] },
      stopReason: 'end_turn', usage: { inputTokens: 6, outputTokens: 30 } };
  }
  // tools over three turns
  const hasTools = !!body.toolConfig;
  const results = (body.messages || []).flatMap((m) => m.content).filter((b) => b.toolResult);
  if (hasTools && results.length === 0) {
    return { message: { role: 'assistant', content: [
      { text: 'Checking.' },
      { toolUse: { toolUseId: 'tooluse_paris', name: 'get_weather', input: { city: 'Paris' } } },
      { toolUse: { toolUseId: 'tooluse_rome', name: 'get_weather', input: { city: 'Rome' } } }] },
    stopReason: 'tool_use', usage: { inputTokens: 50, outputTokens: 20 } };
  }
  if (hasTools && results.length === 2) {
    return { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_conv', name: 'to_fahrenheit', input: { celsius: 18 } } }] },
      stopReason: 'tool_use', usage: { inputTokens: 90, outputTokens: 10 } };
  }
  if (hasTools && results.length === 3) {
    return { message: { role: 'assistant', content: [{ text: 'Paris 18C (64.4F), Rome 22C.' }] }, stopReason: 'end_turn', usage: { inputTokens: 120, outputTokens: 12 } };
  }
  return { message: { role: 'assistant', content: [{ text: 'Hello from Bedrock.' }] }, stopReason: 'end_turn',
    usage: { inputTokens: 12, outputTokens: 5, cacheReadInputTokens: 100, cacheWriteInputTokens: 0 } };
}

before(async () => {
  fake = await startBedrockFake(script, CREDS);
  envFake = await startBedrockFake(script, { ...ENV_CREDS, region: 'eu-central-1' });
  gw = await startGateway({
    env: { GR_TEST_AWS_SECRET: CREDS.secretAccessKey, AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ENV_CREDS.secretAccessKey, AWS_SESSION_TOKEN: '', AWS_REGION: 'eu-central-1' },
    config: (port, dir) => defaultConfig(port, `
  - { name: claude-br, provider: bedrock, model: "${CLAUDE}", pricing: { input: 3, output: 15, cached_input: 0.3 }, capabilities: [chat, tools, stream] }
  - { name: titan-embed, provider: bedrock, model: "amazon.titan-embed-text-v2:0", pricing: { input: 0.02, output: 0 }, capabilities: [embeddings] }
  - { name: cohere-embed, provider: bedrock, model: "cohere.embed-english-v3", pricing: { input: 0.1, output: 0 }, capabilities: [embeddings] }
  - { name: claude-envcreds, provider: bedrock-env, model: "${CLAUDE}", capabilities: [chat, stream] }
  - { name: claude-badkey, provider: bedrock-badkey, model: "${CLAUDE}", capabilities: [chat, stream] }
`, dir).replace(`providers:
  - name: mock
    kind: mock
`, `providers:
  - name: mock
    kind: mock
  - name: bedrock
    kind: bedrock
    base_url: http://127.0.0.1:${fake.port}
    region: ${CREDS.region}
    access_key_id: ${CREDS.accessKeyId}
    secret_access_key: \${GR_TEST_AWS_SECRET}
    session_token: "${CREDS.sessionToken}"
  - name: bedrock-env
    kind: bedrock
    base_url: http://127.0.0.1:${envFake.port}
  - name: bedrock-badkey
    kind: bedrock
    base_url: http://127.0.0.1:${fake.port}
    region: ${CREDS.region}
    access_key_id: ${CREDS.accessKeyId}
    secret_access_key: "not/the/right/secret/key/at/all/0123456789"
    session_token: "${CREDS.sessionToken}"
`),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0 });
});

after(async () => {
  const code = await gw?.stop();
  await fake?.close();
  await envFake?.close();
  assert.equal(code, 0, 'gateway drains and exits 0 on SIGTERM (no sanitizer report)');
});

const lastRequest = (f = fake) => f.requests.at(-1);

test('chat: signed Converse request, translated answer, usage with cache reads, cost', async () => {
  const { data, response } = await client.chat.completions.create({
    model: 'claude-br', max_tokens: 64, temperature: 0.3, stop: ['END'],
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
  }).withResponse();
  const rec = lastRequest();
  assert.equal(rec.sig.ok, true, `signature: ${rec.sig.why}`);
  assert.equal(rec.url, '/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse');
  assert.equal(rec.headers['x-amz-security-token'], CREDS.sessionToken);
  assert.deepEqual(rec.body, {
    messages: [{ role: 'user', content: [{ text: 'Hi' }] }], system: [{ text: 'Be brief.' }],
    inferenceConfig: { maxTokens: 64, temperature: 0.3, stopSequences: ['END'] },
  });
  assert.equal(data.choices[0].message.content, 'Hello from Bedrock.');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.equal(data.usage.prompt_tokens, 112);
  assert.equal(data.usage.completion_tokens, 5);
  assert.equal(data.usage.prompt_tokens_details.cached_tokens, 100);
  const expected = (12 * 3 + 100 * 0.3 + 5 * 15) / 1e6;
  assert.ok(Math.abs(data.usage.cost - expected) < 1e-12, `cost ${data.usage.cost} vs ${expected}`);
  assert.ok(Math.abs(Number(response.headers.get('x-gaterouter-cost')) - expected) < 1e-12);
});

test('stream: event-stream frames (split across reads) become chunks; usage and cost on the last one', async () => {
  const stream = await client.chat.completions.create({
    model: 'claude-br', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }],
  });
  let text = '', finish = null, usage = null, role = null;
  for await (const c of stream) {
    if (c.usage) usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    if (ch.delta.role) role = ch.delta.role;
    if (ch.delta.content) text += ch.delta.content;
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  const rec = lastRequest();
  assert.equal(rec.sig.ok, true, `signature: ${rec.sig.why}`);
  assert.equal(rec.url, '/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream');
  assert.equal(rec.headers.accept, 'application/vnd.amazon.eventstream');
  assert.equal(role, 'assistant');
  assert.equal(text, 'Hello from Bedrock.');
  assert.equal(finish, 'stop');
  assert.equal(usage.prompt_tokens, 112);
  assert.equal(usage.completion_tokens, 5);
  assert.ok(Math.abs(usage.cost - (12 * 3 + 100 * 0.3 + 5 * 15) / 1e6) < 1e-12, JSON.stringify(usage));
});

test('tools over three turns: toolUse / toolResult round trips, streamed and not', async () => {
  const messages = [{ role: 'user', content: 'Weather in Paris and Rome, Paris in Fahrenheit too?' }];
  // turn 1, streamed: two tool calls
  const stream = await client.chat.completions.create({ model: 'claude-br', stream: true, messages, tools: [weatherTool, convertTool], tool_choice: 'auto' });
  const calls = [];
  let content = '', finish = null;
  for await (const c of stream) {
    const ch = c.choices[0];
    if (!ch) continue;
    if (ch.delta.content) content += ch.delta.content;
    for (const tc of ch.delta.tool_calls || []) {
      calls[tc.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
      if (tc.id) calls[tc.index].id = tc.id;
      if (tc.function?.name) calls[tc.index].function.name = tc.function.name;
      if (tc.function?.arguments) calls[tc.index].function.arguments += tc.function.arguments;
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(content, 'Checking.');
  assert.deepEqual(calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)]),
    [['tooluse_paris', 'get_weather', { city: 'Paris' }], ['tooluse_rome', 'get_weather', { city: 'Rome' }]]);
  assert.deepEqual(lastRequest().body.toolConfig.toolChoice, { auto: {} });
  messages.push({ role: 'assistant', content, tool_calls: calls });
  messages.push({ role: 'tool', tool_call_id: 'tooluse_paris', content: '18C' });
  messages.push({ role: 'tool', tool_call_id: 'tooluse_rome', content: '22C' });
  // turn 2, not streamed: the history reaches Bedrock as toolUse / toolResult blocks
  const t2 = await client.chat.completions.create({ model: 'claude-br', messages, tools: [weatherTool, convertTool] });
  const h2 = lastRequest().body.messages;
  assert.deepEqual(h2[1], { role: 'assistant', content: [{ text: 'Checking.' },
    { toolUse: { toolUseId: 'tooluse_paris', name: 'get_weather', input: { city: 'Paris' } } },
    { toolUse: { toolUseId: 'tooluse_rome', name: 'get_weather', input: { city: 'Rome' } } }] });
  assert.deepEqual(h2[2], { role: 'user', content: [
    { toolResult: { toolUseId: 'tooluse_paris', content: [{ text: '18C' }] } },
    { toolResult: { toolUseId: 'tooluse_rome', content: [{ text: '22C' }] } }] });
  const call = t2.choices[0].message.tool_calls[0];
  assert.equal(t2.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual([call.id, call.function.name, JSON.parse(call.function.arguments)], ['tooluse_conv', 'to_fahrenheit', { celsius: 18 }]);
  messages.push(t2.choices[0].message);
  messages.push({ role: 'tool', tool_call_id: 'tooluse_conv', content: '64.4' });
  // turn 3: the final answer
  const t3 = await client.chat.completions.create({ model: 'claude-br', messages, tools: [weatherTool, convertTool] });
  assert.equal(lastRequest().sig.ok, true);
  assert.equal(lastRequest().body.messages.length, 5);
  assert.equal(t3.choices[0].message.content, 'Paris 18C (64.4F), Rome 22C.');
});

test('reasoning: reasoning_effort becomes thinking for Claude; reasoning_content comes back', async () => {
  const r = await client.chat.completions.create({ model: 'claude-br', reasoning_effort: 'low', messages: [{ role: 'user', content: 'THINK' }] });
  const body = lastRequest().body;
  assert.deepEqual(body.additionalModelRequestFields, { thinking: { type: 'enabled', budget_tokens: 2048 } });
  assert.equal(body.inferenceConfig.maxTokens, 2048 + 4096);
  assert.equal(r.choices[0].message.reasoning_content, '2+2 is 4.');
  assert.equal(r.choices[0].message.content, 'Four.');
});

test('embeddings: Titan (float and the SDK default base64) and Cohere through InvokeModel', async () => {
  const f = await client.embeddings.create({ model: 'titan-embed', input: 'hello world', dimensions: 256, encoding_format: 'float' });
  let rec = lastRequest();
  assert.equal(rec.sig.ok, true, `signature: ${rec.sig.why}`);
  assert.equal(rec.url, '/model/amazon.titan-embed-text-v2%3A0/invoke');
  assert.deepEqual(rec.body, { inputText: 'hello world', dimensions: 256, normalize: true });
  assert.deepEqual(f.data[0].embedding, [0.5, -0.25, 0.125]);
  assert.equal(f.usage.prompt_tokens, 7);
  assert.ok(Math.abs(f.usage.cost - 7 * 0.02 / 1e6) < 1e-15, JSON.stringify(f.usage));
  const b = await client.embeddings.create({ model: 'titan-embed', input: ['hello world'] }); // SDK asks for base64 and decodes
  assert.deepEqual(Array.from(b.data[0].embedding), [0.5, -0.25, 0.125]);
  const c = await client.embeddings.create({ model: 'cohere-embed', input: ['a', 'bcd'], encoding_format: 'float' });
  rec = lastRequest();
  assert.deepEqual(rec.body, { texts: ['a', 'bcd'], input_type: 'search_document', truncate: 'NONE' });
  assert.deepEqual(c.data.map((d) => [d.index, d.embedding]), [[0, [0, 0.5, 1]], [1, [1, 0.5, 3]]]);
  assert.ok(c.usage.prompt_tokens > 0 && c.usage.cost_estimated === true, JSON.stringify(c.usage));
  await assert.rejects(client.embeddings.create({ model: 'titan-embed', input: ['a', 'b'] }), (e) => e.status === 400 && /one input per request/.test(e.message));
});

test('credentials and region from AWS_* in the environment', async () => {
  const r = await client.chat.completions.create({ model: 'claude-envcreds', messages: [{ role: 'user', content: 'Hi' }] });
  const rec = lastRequest(envFake);
  assert.equal(rec.sig.ok, true, `signature: ${rec.sig.why}`);
  assert.match(rec.headers.authorization, /Credential=AKIAFROMTHEENVIRON01\/\d{8}\/eu-central-1\/bedrock\/aws4_request/);
  assert.equal(rec.headers['x-amz-security-token'], undefined); // AWS_SESSION_TOKEN was empty
  assert.equal(r.choices[0].message.content, 'Hello from Bedrock.');
});

test('ThrottlingException -> 429, ValidationException -> 400, message kept', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'claude-br', messages: [{ role: 'user', content: 'THROTTLE' }] }),
    (e) => e.status === 429 && e.error?.type === 'rate_limit_error' && e.error?.code === 'ThrottlingException' && /Too many requests/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: 'claude-br', messages: [{ role: 'user', content: 'INVALID' }] }),
    (e) => e.status === 400 && e.error?.code === 'ValidationException' && /model identifier is invalid/.test(e.message));
});

test('AccessDeniedException -> 502 naming the provider, the echoed session token and key id redacted', async () => {
  const e = await client.chat.completions.create({ model: 'claude-br', messages: [{ role: 'user', content: 'DENIED' }] }).catch((x) => x);
  assert.equal(e.status, 502);
  assert.match(e.message, /provider bedrock rejected the gateway's credentials: .*is not authorized to perform: bedrock:InvokeModel/);
  assert.match(e.message, /\[redacted\]/);
  for (const secret of [CREDS.sessionToken, CREDS.accessKeyId]) assert.ok(!e.message.includes(secret.slice(0, 16)), e.message);
});

test('a stream exception mid-stream ends the stream with an in-band error', async () => {
  const stream = await client.chat.completions.create({ model: 'claude-br', stream: true, messages: [{ role: 'user', content: 'STREAMFAIL' }] });
  let text = '';
  await assert.rejects((async () => {
    for await (const c of stream) text += c.choices[0]?.delta?.content || '';
  })(), (e) => /model stream failed/.test(e.message));
  assert.equal(text, 'Par');
});

test('a rejected signature -> 502, and the reply holds none of the credentials AWS echoed', async () => {
  const res = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-badkey', messages: [{ role: 'user', content: 'Hi' }] }),
  });
  const text = await res.text();
  assert.equal(lastRequest().sig.ok, false);
  assert.equal(res.status, 502);
  assert.match(text, /rejected the gateway's credentials/);
  assert.match(text, /\[redacted\]/); // AWS echoed the session token; it was cut out
  for (const secret of [CREDS.sessionToken, CREDS.accessKeyId, CREDS.secretAccessKey, 'not/the/right/secret'])
    assert.ok(!text.includes(secret) && !text.includes(secret.slice(0, 16)), `reply leaks ${secret.slice(0, 8)}…: ${text}`);
});

test('/v1/messages to Claude on Bedrock: InvokeModel with the client\'s body (model out, anthropic_version and betas in), signed; the message back as it came', async () => {
  const ask = { model: 'claude-br', max_tokens: 100, thinking: { type: 'enabled', budget_tokens: 1024 }, top_k: 5,
    system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'Hi' }] };
  const r = await anthropic.messages.create(ask, { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } }).withResponse();
  const rec = lastRequest();
  assert.equal(rec.sig.ok, true, rec.sig.why);
  assert.equal(rec.url, '/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke');
  const { model, ...rest } = ask;
  assert.deepEqual(rec.body, { anthropic_version: 'bedrock-2023-05-31', anthropic_beta: ['interleaved-thinking-2025-05-14'], ...rest });
  assert.ok(rec.raw.startsWith('{"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14"],'), rec.raw);
  assert.equal(rec.headers['anthropic-beta'], undefined, 'betas travel in the body on Bedrock');
  assert.deepEqual(r.data.content, claudeMessage.content, 'thinking and its signature intact');
  assert.ok(Math.abs(Number(r.response.headers.get('x-gaterouter-cost')) - (21 * 3 + 9 * 15) / 1e6) < 1e-9);
});

test('/v1/messages streamed from Bedrock: event-stream chunks become Anthropic SSE events, usage metered; an exception frame is an error event', async () => {
  const stream = anthropic.messages.stream({ model: 'claude-br', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
  const final = await stream.finalMessage();
  const rec = lastRequest();
  assert.equal(rec.url, '/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke-with-response-stream');
  assert.equal(rec.body.stream, undefined, 'Bedrock streams by the operation, not a body field');
  assert.deepEqual(final.content, claudeMessage.content);
  assert.equal(final.usage.output_tokens, 9);
  const raw = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-br', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'STREAMFAIL' }] }) });
  const text = await raw.text();
  assert.match(text, /event: content_block_delta\ndata: \{"type":"content_block_delta","index":1,"delta":\{"type":"text_delta","text":"Hello from Claude on Bedrock."\}\}/);
  assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"rate_limit_error","message":"Bedrock throttlingException: Too many tokens, please wait."\}\}/);
  const throttled = await anthropic.messages.create({ model: 'claude-br', max_tokens: 10, messages: [{ role: 'user', content: 'THROTTLE' }] }).catch((e) => e);
  assert.equal(throttled.status, 429);
});

test('--check-config refuses a bedrock provider without credentials or region', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-bedrock-'));
  const env = { ...process.env };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION']) delete env[k];
  const check = (provider) => {
    const path = join(dir, `c${Math.random()}.yaml`);
    writeFileSync(path, `store: "sqlite://${dir}/g.db"\nproviders:\n${provider}\nmodels:\n  - { name: m, provider: b, model: "${CLAUDE}" }\n`);
    return spawnSync(BIN, ['--check-config', path], { env, encoding: 'utf8' });
  };
  let r = check('  - { name: b, kind: bedrock, region: us-east-1 }');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /kind bedrock needs access_key_id and secret_access_key/);
  r = check('  - { name: b, kind: bedrock, access_key_id: AKIAX, secret_access_key: abcdefgh }');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /region: kind bedrock needs an AWS region/);
  r = check('  - { name: b, kind: bedrock, region: us-east-1, access_key_id: AKIAX, secret_access_key: abcdefgh }');
  assert.equal(r.status, 0, r.stderr + r.stdout);
});
