// gemini.test.mjs — Gemini fidelity end to end, against a recording upstream
// speaking Gemini's wire format (gemini_fake.mjs): reasoning controls become
// thinkingConfig, thoughts come back as reasoning_content (streamed too),
// thoughtSignatures go back to Gemini on the next turn — through the official
// `openai` SDK (tool_calls[].extra_content.google.thought_signature) and the
// official `@anthropic-ai/sdk` on /v1/messages (a thinking block's
// signature) —, safetySettings pass through, the thinking budget is reserved
// by budget holds and x402 quotes, and /v1/embeddings reaches embedContent /
// batchEmbedContents.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway } from './harness.mjs';
import { paidConfig } from './paid_config.mjs';
import { startGeminiFake, generated } from './gemini_fake.mjs';

const RICH = 'gr-gemini-rich-key-000000000000001';
const TIGHT = 'gr-gemini-tight-key-00000000000001';
const WEATHER = { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const SAFETY = [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_ONLY_HIGH' }];

let fake, gw, openai, anthropic, signatures = 0;
const lastTurn = (body) => body.contents.at(-1);

before(async () => {
  fake = await startGeminiFake((rec, body) => {
    if (rec.url.includes(':batchEmbedContents')) return { embeddings: body.requests.map((r, i) => ({ values: [i + 0.5, -0.25, r.content.parts[0].text.length] })) };
    if (rec.url.includes(':embedContent')) return { embedding: { values: [0.125, 0.5, -1] } };
    const gc = body.generationConfig || {};
    const thinking = gc.thinkingConfig?.thinkingBudget || 0;
    if (lastTurn(body).parts.some((p) => p.functionResponse)) return generated([{ text: 'It is 3 C in Oslo.' }]);
    if (body.tools) {
      const parts = [];
      if (gc.thinkingConfig?.includeThoughts) parts.push({ text: 'The user wants the weather; call the tool.', thought: true });
      parts.push({ functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: `sig-${++signatures}` });
      return generated(parts, { usage: { promptTokenCount: 30, candidatesTokenCount: 8, thoughtsTokenCount: 200, totalTokenCount: 238 } });
    }
    // the worst case the request allows: every output token it may spend, thoughts included
    const out = (gc.maxOutputTokens || 10) - thinking;
    return generated([{ text: 'hello' }], { usage: { promptTokenCount: 5, candidatesTokenCount: out, thoughtsTokenCount: thinking, totalTokenCount: 5 + out + thinking } });
  });
  gw = await startGateway({
    config: (port, dir) => paidConfig(port, dir, { rich: [RICH, 10], tight: [TIGHT, 0.02] }, `
providers:
  - { name: gem, kind: gemini, base_url: "http://127.0.0.1:${fake.port}/v1beta", api_key: gemini-fake-key }
models:
  - { name: gemini-fake, provider: gem, model: gemini-2.5-flash, pricing: { input: 1, output: 1 }, capabilities: [chat, tools, stream] }
  - { name: gemini-embed, provider: gem, model: gemini-embedding-001, pricing: { input: 1, output: 0 }, capabilities: [embeddings] }
`),
  });
  openai = new OpenAI({ baseURL: gw.baseURL, apiKey: RICH, maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: gw.base, apiKey: RICH, maxRetries: 0 });
});
after(async () => { await gw?.stop(); await fake?.close(); });

test('openai SDK: reasoning_effort -> thinkingConfig, thoughts -> reasoning_content, the signature goes back next turn, safetySettings pass through', async () => {
  const ask = { model: 'gemini-fake', reasoning_effort: 'low', max_tokens: 300, safetySettings: SAFETY, tools: [WEATHER] };
  const first = await openai.chat.completions.create({ ...ask, messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
  const sent = fake.requests.at(-1).body;
  assert.deepEqual(sent.generationConfig.thinkingConfig, { thinkingBudget: 1024, includeThoughts: true });
  assert.equal(sent.generationConfig.maxOutputTokens, 300 + 1024, 'the answer keeps its room beside the thinking budget');
  assert.deepEqual(sent.safetySettings, SAFETY);
  const msg = first.choices[0].message;
  assert.equal(msg.reasoning_content, 'The user wants the weather; call the tool.');
  const sig = msg.tool_calls[0].extra_content?.google?.thought_signature;
  assert.match(sig || '', /^sig-\d+$/, JSON.stringify(msg));
  assert.equal(first.usage.completion_tokens_details.reasoning_tokens, 200);
  assert.ok(Math.abs(first.usage.cost - (30 + 8 + 200) / 1e6) < 1e-9, `thoughts billed as output: ${first.usage.cost}`);

  const second = await openai.chat.completions.create({ ...ask, messages: [{ role: 'user', content: 'Weather in Oslo?' }, msg,
    { role: 'tool', tool_call_id: msg.tool_calls[0].id, content: '{"temp_c":3}' }] });
  assert.equal(second.choices[0].message.content, 'It is 3 C in Oslo.');
  const model = fake.requests.at(-1).body.contents.find((c) => c.role === 'model');
  assert.equal(model.parts.find((p) => p.functionCall).thoughtSignature, sig, 'the signature Gemini gave is echoed back');
});

test('openai SDK, streamed: thoughts stream as reasoning_content, the signed call arrives whole', async () => {
  const stream = await openai.chat.completions.create({ model: 'gemini-fake', reasoning: { effort: 'medium' }, tools: [WEATHER], stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Weather in Oslo?' }] });
  let reasoning = '', call, usage;
  for await (const c of stream) {
    const d = c.choices[0]?.delta;
    if (d?.reasoning_content) reasoning += d.reasoning_content;
    if (d?.tool_calls) call = d.tool_calls[0];
    if (c.usage) usage = c.usage;
  }
  assert.deepEqual(fake.requests.at(-1).body.generationConfig.thinkingConfig, { thinkingBudget: 8192, includeThoughts: true });
  assert.equal(reasoning, 'The user wants the weather; call the tool.');
  assert.match(call.extra_content.google.thought_signature, /^sig-\d+$/);
  assert.ok(usage.cost > 0 && usage.completion_tokens_details.reasoning_tokens === 200, JSON.stringify(usage));
});

for (const stream of [false, true]) {
  test(`anthropic SDK on /v1/messages${stream ? ' (streamed)' : ''}: the Gemini signature rides a thinking block and returns to Gemini`, async () => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const ask = { model: 'gemini-fake', max_tokens: 300, tools };
    const messages = [{ role: 'user', content: 'Weather in Oslo?' }];
    const first = stream ? await anthropic.messages.stream({ ...ask, messages }).finalMessage() : await anthropic.messages.create({ ...ask, messages });
    const toolUse = first.content.find((b) => b.type === 'tool_use');
    const carrier = first.content[first.content.indexOf(toolUse) - 1];
    assert.equal(carrier.type, 'thinking', JSON.stringify(first.content));
    assert.match(carrier.signature, /^gaterouter\.gemini\.sig-\d+$/);
    const sig = carrier.signature.slice('gaterouter.gemini.'.length);
    const second = await anthropic.messages.create({ ...ask, messages: [...messages, { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '3 C' }] }] });
    assert.equal(second.content.find((b) => b.type === 'text').text, 'It is 3 C in Oslo.');
    const model = fake.requests.at(-1).body.contents.find((c) => c.role === 'model');
    assert.equal(model.parts.find((p) => p.functionCall).thoughtSignature, sig);
  });
}

test('the thinking budget is reserved: a budget short of it refuses up front; the x402 quote covers the charge', async () => {
  const body = { model: 'gemini-fake', max_tokens: 100, reasoning_effort: 'high', messages: [{ role: 'user', content: 'think' }] };
  const post = (key) => fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });
  const served = await post(RICH);
  assert.equal(served.status, 200);
  const cost = Number(served.headers.get('x-gaterouter-cost'));
  assert.ok(Math.abs(cost - (5 + 100 + 24576) / 1e6) < 1e-9, `charge ${cost}`);
  const calls = fake.requests.length;
  const refused = await post(TIGHT);
  assert.equal(refused.status, 402, await refused.text());
  assert.equal(fake.requests.length, calls, 'the upstream was never called');
  const quote = await (await post(null)).json();
  assert.ok(Number(quote.accepts[0].maxAmountRequired) / 1e6 >= cost, `quote ${quote.accepts[0].maxAmountRequired} below ${cost}`);
});

test('embeddings: a list -> batchEmbedContents, one text -> embedContent; vectors as the SDK expects (base64 by default), billed on the estimate', async () => {
  const many = await openai.embeddings.create({ model: 'gemini-embed', input: ['hello', 'hi'], dimensions: 3 }).withResponse();
  const sent = fake.requests.at(-1);
  assert.match(sent.url, /\/v1beta\/models\/gemini-embedding-001:batchEmbedContents$/);
  assert.deepEqual(sent.body, { requests: ['hello', 'hi'].map((t) => ({ model: 'models/gemini-embedding-001', content: { parts: [{ text: t }] }, outputDimensionality: 3 })) });
  assert.equal(sent.headers['x-goog-api-key'], 'gemini-fake-key');
  // the SDK asked for base64 and decoded it: float32 of what Gemini sent
  assert.deepEqual(many.data.data.map((d) => d.embedding), [[0.5, -0.25, 5], [1.5, -0.25, 2]]);
  assert.equal(many.data.model, 'gemini-embed');
  assert.ok(many.data.usage.prompt_tokens > 0, 'Gemini reports no tokens: the gateway\'s estimate');
  assert.equal(many.data.usage.cost_estimated, true);
  assert.equal(many.response.headers.get('x-gaterouter-cost-estimated'), 'true');
  assert.ok(Number(many.response.headers.get('x-gaterouter-cost')) > 0);
  const one = await openai.embeddings.create({ model: 'gemini-embed', input: 'hello', encoding_format: 'float' });
  assert.match(fake.requests.at(-1).url, /:embedContent$/);
  assert.deepEqual(one.data[0].embedding, [0.125, 0.5, -1]);
  await assert.rejects(openai.embeddings.create({ model: 'gemini-embed', input: [[1, 2, 3]] }), (e) => e.status === 400 && /take text/.test(e.message));
});
