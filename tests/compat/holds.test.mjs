// holds.test.mjs — a key's budget hold bounds what the request can be billed
// for output, even when the client names no cap and the upstream would,
// left to its defaults, generate more (issue 20, under-reservations):
//  - an OpenAI-compatible upstream (a recording fake that, given no cap,
//    reports far more output than the model's max_output_tokens) is sent the
//    cap the hold reserved, per attempt, and the charge stays within it (so
//    are a relayed Responses request and the Anthropic adapter, which sent
//    4096 where the model's maximum was smaller);
//  - Gemini 2.5 Pro thinks by default (dynamic thinking, no thinkingConfig
//    sent): the hold reserves that thinking, so a budget short of it is
//    refused 402 before any upstream call, and the x402 quote covers it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from './harness.mjs';
import { paidConfig } from './paid_config.mjs';
import { startRecordingServer } from './recording_server.mjs';
import { startGeminiFake, generated } from './gemini_fake.mjs';
import { startAnthropicFake, message } from './anthropic_fake.mjs';

const RICH = 'gr-holds-rich-key-00000000000000001';
const TIGHT = 'gr-holds-tight-key-0000000000000001';
const UNCAPPED_OUTPUT = 50000; // what the fake generates when the request names no cap

let openaiFake, geminiFake, anthropicFake, gw;
before(async () => {
  openaiFake = await startRecordingServer((rec, res) => {
    const b = rec.body;
    const out = b.max_completion_tokens ?? b.max_tokens ?? UNCAPPED_OUTPUT;
    if (rec.url.endsWith('/completions') && !rec.url.endsWith('/chat/completions')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1, model: b.model,
        choices: [{ index: 0, text: 'ok', finish_reason: 'length', logprobs: null }],
        usage: { prompt_tokens: 10, completion_tokens: out, total_tokens: 10 + out } }));
    }
    if (rec.url.endsWith('/responses')) { // a Responses API upstream (responses_api: true)
      const o = b.max_output_tokens ?? UNCAPPED_OUTPUT;
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id: 'resp_1', object: 'response', created_at: 1, status: 'completed', model: b.model,
        output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'ok', annotations: [] }] }],
        usage: { input_tokens: 10, output_tokens: o, total_tokens: 10 + o } }));
    }
    if (b.model === 'oa-broken-1') { // the first candidate fails: the fallback gets its own model's cap
      res.writeHead(503, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } }));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: b.model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 10, completion_tokens: out, total_tokens: 10 + out } }));
  });
  geminiFake = await startGeminiFake((rec, body) => {
    const gc = body.generationConfig || {};
    // dynamic thinking at its most (32768 for 2.5 Pro), plus every answer token allowed
    const thoughts = gc.thinkingConfig ? gc.thinkingConfig.thinkingBudget : 32768;
    const out = gc.maxOutputTokens ?? 100;
    return generated([{ text: 'hello' }], { usage: { promptTokenCount: 5, candidatesTokenCount: out, thoughtsTokenCount: thoughts, totalTokenCount: 5 + out + thoughts } });
  });
  anthropicFake = await startAnthropicFake((rec, body) => message(body.model, [{ type: 'text', text: 'ok' }],
    { stop_reason: 'max_tokens', usage: { input_tokens: 10, output_tokens: body.max_tokens } }));
  gw = await startGateway({
    // $1 per Mtok in and out: one token is one micro-USD. TIGHT holds
    // 1000 output tokens and the prompt, not 2.5 Pro's default thinking.
    config: (port, dir) => paidConfig(port, dir, { rich: [RICH, 10], tight: [TIGHT, 0.002] }, `
providers:
  - { name: oa, kind: openai, base_url: "http://127.0.0.1:${openaiFake.port}/v1", api_key: sk-fake }
  - { name: oa-resp, kind: openai, base_url: "http://127.0.0.1:${openaiFake.port}/v1", api_key: sk-fake, responses_api: true }
  - { name: anth, kind: anthropic, base_url: "http://127.0.0.1:${anthropicFake.port}/v1", api_key: sk-ant-fake }
  - { name: gem, kind: gemini, base_url: "http://127.0.0.1:${geminiFake.port}/v1beta", api_key: gemini-fake-key }
models:
  - { name: oa-held, provider: oa, model: oa-held-1, max_output_tokens: 300, pricing: { input: 1, output: 1 }, capabilities: [chat, completions] }
  - { name: oa-broken, provider: oa, model: oa-broken-1, max_output_tokens: 900, pricing: { input: 1, output: 1 }, capabilities: [chat], fallbacks: [oa-small] }
  - { name: oa-small, provider: oa, model: oa-small-1, max_output_tokens: 200, pricing: { input: 1, output: 1 }, capabilities: [chat] }
  - { name: oa-relayed, provider: oa-resp, model: oa-relayed-1, max_output_tokens: 250, pricing: { input: 1, output: 1 }, capabilities: [chat] }
  - { name: claude-small, provider: anth, model: claude-small-1, max_output_tokens: 1000, pricing: { input: 1, output: 1 }, capabilities: [chat] }
  - { name: cheap-a, provider: oa, model: cheap-a-1, quality: 40, max_output_tokens: 120, pricing: { input: 0.1, output: 0.2 }, capabilities: [chat] }
  - { name: cheap-b, provider: oa, model: cheap-b-1, quality: 50, max_output_tokens: 140, pricing: { input: 0.2, output: 0.4 }, capabilities: [chat] }
  - { name: check-x, provider: oa, model: check-x-1, quality: 60, max_output_tokens: 160, pricing: { input: 0.5, output: 1 }, capabilities: [chat] }
  - { name: big-x, provider: oa, model: big-x-1, quality: 95, max_output_tokens: 180, pricing: { input: 10, output: 30 }, capabilities: [chat] }
  - { name: gem-pro, provider: gem, model: gemini-2.5-pro, max_output_tokens: 1000, pricing: { input: 1, output: 1 }, capabilities: [chat] }
routing:
  auto:
    models: [cheap-a, cheap-b, check-x, big-x]
    verify: { verifier: check-x, timeout_ms: 10s, agree: normalised }
`),
  });
});
after(async () => {
  const code = await gw?.stop();
  await openaiFake?.close(); await geminiFake?.close(); await anthropicFake?.close();
  assert.equal(code, 0, 'gateway drains and exits 0 on SIGTERM (no sanitizer report)');
});

async function post(path, body, key) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(`${gw.baseURL}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: (() => { try { return JSON.parse(text); } catch { return null; } })() };
}
const cost = (r) => Number(r.headers.get('x-gaterouter-cost'));

test('money: a key request without max_tokens sends the cap its hold reserved (the model\'s max_output_tokens); the charge stays within it', async () => {
  const r = await post('/chat/completions', { model: 'oa-held', messages: [{ role: 'user', content: 'hi' }] }, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = openaiFake.requests.at(-1).body;
  assert.equal(sent.max_completion_tokens, 300, `upstream body: ${JSON.stringify(sent)}`);
  assert.equal(sent.max_tokens, undefined, 'one cap field, the current one');
  assert.equal(r.json.usage.completion_tokens, 300);
  assert.ok(Math.abs(cost(r) - (10 + 300) / 1e6) < 1e-9, `charge ${cost(r)}`);
});

test('money: a client\'s own max_tokens is sent untouched', async () => {
  const r = await post('/chat/completions', { model: 'oa-held', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = openaiFake.requests.at(-1).body;
  assert.equal(sent.max_tokens, 50);
  assert.equal(sent.max_completion_tokens, undefined);
});

test('money: /v1/completions without max_tokens gets max_tokens = the hold\'s cap', async () => {
  const r = await post('/completions', { model: 'oa-held', prompt: 'hi' }, RICH);
  assert.equal(r.status, 200, r.text);
  assert.equal(openaiFake.requests.at(-1).body.max_tokens, 300);
  assert.ok(Math.abs(cost(r) - (10 + 300) / 1e6) < 1e-9, `charge ${cost(r)}`);
});

test('money: each attempt carries its own model\'s cap (a fallback with a smaller maximum gets that one)', async () => {
  const before = openaiFake.requests.length;
  const r = await post('/chat/completions', { model: 'oa-broken', messages: [{ role: 'user', content: 'hi' }] }, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = openaiFake.requests.slice(before).map((q) => [q.body.model, q.body.max_completion_tokens]);
  assert.deepEqual(sent, [['oa-broken-1', 900], ['oa-small-1', 200]]);
  assert.ok(Math.abs(cost(r) - (10 + 200) / 1e6) < 1e-9, `charge ${cost(r)}`);
});

test('money: a relayed Responses request without max_output_tokens is sent the hold\'s cap as max_output_tokens', async () => {
  const r = await post('/responses', { model: 'oa-relayed', input: 'hi', store: false }, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = openaiFake.requests.at(-1);
  assert.ok(sent.url.endsWith('/responses'), sent.url);
  assert.equal(sent.body.max_output_tokens, 250, JSON.stringify(sent.body));
  assert.ok(Math.abs(cost(r) - (10 + 250) / 1e6) < 1e-9, `charge ${cost(r)}`);
});

test('money: the Anthropic adapter sends the hold\'s cap (a model maximum below its 4096 default), not 4096', async () => {
  const r = await post('/chat/completions', { model: 'claude-small', messages: [{ role: 'user', content: 'hi' }] }, RICH);
  assert.equal(r.status, 200, r.text);
  assert.equal(anthropicFake.requests.at(-1).body.max_tokens, 1000);
  assert.ok(Math.abs(cost(r) - (10 + 1000) / 1e6) < 1e-9, `charge ${cost(r)}`);
});

test('money: auto:verify\'s cheap calls each carry their own model\'s cap when the request names none', async () => {
  const before = openaiFake.requests.length;
  const r = await post('/chat/completions', { model: 'auto:verify', messages: [{ role: 'user', content: 'Which gas do plants take in?' }] }, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = openaiFake.requests.slice(before).map((q) => [q.body.model, q.body.max_completion_tokens]).sort();
  assert.deepEqual(sent, [['cheap-a-1', 120], ['cheap-b-1', 140]], `the two cheap calls, which agreed: ${r.headers.get('x-gaterouter-route')}`);
});

test('money: Gemini 2.5 Pro\'s default thinking is reserved: a budget short of it refuses up front; the x402 quote covers the charge', async () => {
  const body = { model: 'gem-pro', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] };
  const served = await post('/chat/completions', body, RICH);
  assert.equal(served.status, 200, served.text);
  const sent = geminiFake.requests.at(-1).body;
  assert.equal(sent.generationConfig.thinkingConfig, undefined, 'the model keeps its own default thinking');
  const charge = cost(served);
  assert.ok(Math.abs(charge - (5 + 1000 + 32768) / 1e6) < 1e-9, `charge ${charge}`);
  const calls = geminiFake.requests.length;
  const refused = await post('/chat/completions', body, TIGHT);
  assert.equal(refused.status, 402, refused.text);
  assert.equal(geminiFake.requests.length, calls, 'the upstream was never called');
  const quote = await post('/chat/completions', body, null);
  assert.equal(quote.status, 402);
  assert.ok(Number(quote.json.accepts[0].maxAmountRequired) / 1e6 >= charge, `quote ${quote.json.accepts[0].maxAmountRequired} below ${charge}`);
});
