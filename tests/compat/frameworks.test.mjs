// frameworks.test.mjs — the agent frameworks developers build on, installed
// from npm (pinned in package.json) and used in their DEFAULT modes with only
// a base URL and a key pointed at the gateway: the OpenAI Agents SDK
// (Responses API), the Vercel AI SDK (`openai(model)` = Responses API, plus
// its Anthropic and OpenAI-compatible providers), LangChain (ChatOpenAI with
// and without `useResponsesApi`, ChatAnthropic) and LlamaIndex
// (`OpenAIResponses`, `OpenAI`, a tool-calling agent). Each runs against the
// built-in mock and against recording fakes (OpenAI chat completions:
// openai_fake.mjs; Anthropic Messages: anthropic_fake.mjs), so the suite
// checks the texts and usage the framework reports and what reached the
// upstream: the tool call's arguments and the tool's result.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAIClient from 'openai';
import { z } from 'zod';
import { startGateway, startStandaloneMock, withNativeProviders, defaultConfig, TEST_KEY } from './harness.mjs';
import { startOpenAIFake, USAGE } from './openai_fake.mjs';
import { startAnthropicFake, message } from './anthropic_fake.mjs';

import { Agent, run, tool as agentsTool, setDefaultOpenAIClient, setTracingDisabled } from '@openai/agents';
import { generateText, generateObject, streamText, embed, tool as aiTool, stepCountIs } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { ChatAnthropic } from '@langchain/anthropic';
import { tool as lcTool } from '@langchain/core/tools';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { OpenAI as LlamaOpenAI, OpenAIResponses as LlamaOpenAIResponses } from '@llamaindex/openai';
import { agent as llamaAgent } from '@llamaindex/workflow';
import { tool as llamaTool } from 'llamaindex';

// The mock picks the tool call's arguments from this directive; the fakes
// always call with { city: 'Paris' }.
const ASK = 'What is the weather in Paris? [[mock:args={"city":"Paris"}]]';
const weatherOf = (city) => `sunny-${city}-42`;
const RESULT = weatherOf('Paris');
// The models every OpenAI-wire framework is run against: the built-in mock
// (through its alias gpt-4o-mini, a name LlamaIndex knows to call tools
// with), `gpt-fake` (a kind: openai provider on the recording fake), and a
// standalone mock through the Anthropic and Gemini adapters.
const OPENAI_MODELS = ['gpt-4o-mini', 'gpt-fake', 'claude-mock', 'gemini-mock'];
// Anthropic-wire clients: translated upstreams (the mock on the OpenAI and
// Gemini wires) and relayed ones (the standalone mock's and the fake's
// Anthropic Messages).
const ANTHROPIC_MODELS = ['mock-gpt', 'gemini-mock', 'claude-mock', 'claude-fake'];

let gw, ofake, afake, mock;

before(async () => {
  setTracingDisabled(true); // the Agents SDK exports traces to api.openai.com otherwise
  mock = await startStandaloneMock();
  ofake = await startOpenAIFake();
  afake = await startAnthropicFake((rec, body) => {
    const last = body.messages[body.messages.length - 1];
    const results = Array.isArray(last.content) ? last.content.filter((b) => b.type === 'tool_result') : [];
    if (body.tools && body.tools.length && results.length === 0)
      return message(body.model, [{ type: 'tool_use', id: 'toolu_fw1', name: body.tools[0].name, input: { city: 'Paris' } }], { stop_reason: 'tool_use' });
    const said = results.map((r) => (typeof r.content === 'string' ? r.content : r.content.map((c) => c.text).join(''))).join(' ');
    return message(body.model, [{ type: 'text', text: said ? `The tool said: ${said}` : 'Fake Claude says hi' }]);
  });
  gw = await startGateway({
    config: (port, dir) => withNativeProviders(defaultConfig(port, `
  - { name: gpt-fake, provider: ofake, model: gpt-fake-1, pricing: { input: 1, output: 2 }, capabilities: [chat, tools, json, stream] }
  - { name: claude-fake, provider: afake, model: claude-fake-1, pricing: { input: 3, output: 15 }, context_window: 200000, capabilities: [chat, tools, stream] }
  - { name: claude-mock, provider: anth, model: claude-mock-1, pricing: { input: 3, output: 15 }, context_window: 200000, capabilities: [chat, tools, json, stream] }
  - { name: gemini-mock, aliases: ["gpt-5*"], provider: gem, model: gemini-mock-1, pricing: { input: 1, output: 2 }, capabilities: [chat, tools, json, stream] }
  - { name: claude-small-window, provider: mock, model: mock-gpt-1, context_window: 128000, capabilities: [chat, tools, stream] }
`, dir), mock.port, `  - name: ofake
    kind: openai
    base_url: http://127.0.0.1:${ofake.port}/v1
    api_key: sk-upstream-openai
  - name: afake
    kind: anthropic
    base_url: http://127.0.0.1:${afake.port}/v1
    api_key: sk-ant-upstream
`),
  });
  setDefaultOpenAIClient(new OpenAIClient({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 }));
});

after(async () => {
  if (gw) assert.equal(await gw.stop(), 0, 'gateway drains and exits 0 on SIGTERM');
  if (ofake) await ofake.close();
  if (afake) await afake.close();
  if (mock) {
    assert.equal(await mock.stop(), 0, `mock exits 0 on SIGTERM (sanitizer builds: no leak report)\n${mock.logs()}`);
    assert.doesNotMatch(mock.logs(), /AddressSanitizer|LeakSanitizer|runtime error/, mock.logs());
  }
});

// Requests the gateway sent to a fake since `from` (its requests' length).
const since = (fake, from) => fake.requests.slice(from).filter((r) => r.method === 'POST');

// The OpenAI fake's side of a tool round trip: the tool call went out with
// the arguments the fake chose, and the tool's result came back to it.
function assertOpenAIFakeRoundTrip(from) {
  const reqs = since(ofake, from);
  assert.ok(reqs.length >= 2, `a tool turn and an answer turn reached the fake (${reqs.length})`);
  const msgs = reqs[reqs.length - 1].body.messages;
  const call = msgs.find((m) => m.role === 'assistant' && m.tool_calls).tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
  const result = msgs.find((m) => m.role === 'tool');
  assert.equal(result.tool_call_id, call.id);
  assert.ok(JSON.stringify(result.content).includes(RESULT), `the tool result reached the fake: ${JSON.stringify(result)}`);
}

function assertAnthropicFakeRoundTrip(from) {
  const reqs = since(afake, from);
  assert.ok(reqs.length >= 2, `a tool turn and an answer turn reached the fake (${reqs.length})`);
  const msgs = reqs[reqs.length - 1].body.messages;
  const use = msgs.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((b) => b.type === 'tool_use');
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { city: 'Paris' });
  const result = msgs.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).find((b) => b.type === 'tool_result');
  assert.equal(result.tool_use_id, use.id);
  assert.ok(JSON.stringify(result.content).includes(RESULT), `the tool result reached the fake: ${JSON.stringify(result)}`);
}

function assertFakeRoundTrip(model, from) {
  if (model === 'gpt-fake') assertOpenAIFakeRoundTrip(from.o);
  if (model === 'claude-fake') assertAnthropicFakeRoundTrip(from.a);
}
const mark = () => ({ o: ofake.requests.length, a: afake.requests.length });

// What each model answers to a plain prompt.
const MOCK_HI = /Hello from the GateRouter mock model/;
const HI = { 'gpt-4o-mini': MOCK_HI, 'mock-gpt': MOCK_HI, 'claude-mock': MOCK_HI, 'gemini-mock': MOCK_HI,
  'gpt-fake': /^Fake OpenAI says hi$/, 'claude-fake': /^Fake Claude says hi$/ };

// ---------------------------------------------------------------- OpenAI Agents SDK

for (const model of OPENAI_MODELS) {
  const weather = agentsTool({
    name: 'get_weather', description: 'Weather in a city',
    parameters: z.object({ city: z.string() }),
    execute: async ({ city }) => weatherOf(city),
  });
  const agent = new Agent({ name: 'Weather', instructions: 'Answer with the weather tool.', model, tools: [weather] });

  test(`[agents sdk -> ${model}] run: the function tool is called, its result fed back, final text`, async () => {
    const from = mark();
    const result = await run(agent, ASK);
    assert.match(result.finalOutput, new RegExp(RESULT), result.finalOutput);
    const calls = result.newItems.filter((i) => i.type === 'tool_call_item');
    assert.equal(calls.length, 1);
    assert.deepEqual(JSON.parse(calls[0].rawItem.arguments), { city: 'Paris' });
    const usage = result.state.usage;
    assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0, JSON.stringify(usage));
    if (model === 'gpt-fake') assert.equal(usage.inputTokens, 2 * USAGE.prompt_tokens, 'two turns of the fake\'s usage');
    assertFakeRoundTrip(model, from);
  });

  test(`[agents sdk -> ${model}] streamed run: text deltas, the tool round trip, final text`, async () => {
    const from = mark();
    const stream = await run(agent, ASK, { stream: true });
    let deltas = '';
    for await (const ev of stream) {
      if (ev.type === 'raw_model_stream_event' && ev.data.type === 'output_text_delta') deltas += ev.data.delta;
    }
    await stream.completed;
    assert.match(stream.finalOutput, new RegExp(RESULT));
    assert.equal(deltas, stream.finalOutput, 'the deltas add up to the final text');
    assertFakeRoundTrip(model, from);
  });
}

// A conversation continued from its history (the Agents SDK's way without
// previous_response_id): each turn's tool call has an id of its own, even
// from Gemini, whose calls carry none — the SDK pairs calls and outputs by
// call_id, and a repeated id made it lose the first turn's output and loop.
for (const model of ['gemini-mock', 'claude-mock', 'gpt-fake']) {
  test(`[agents sdk -> ${model}] a second run continues the first's history, a tool call in each`, async () => {
    const weather = agentsTool({ name: 'get_weather', description: 'Weather in a city',
      parameters: z.object({ city: z.string() }), execute: async ({ city }) => weatherOf(city) });
    const agent = new Agent({ name: 'Weather', instructions: 'Answer with the weather tool.', model, tools: [weather] });
    const first = await run(agent, ASK);
    const second = await run(agent, [...first.history, { role: 'user', content: `And tomorrow? [[mock:args={"city":"Lyon"}]]` }], { maxTurns: 4 });
    const calls = second.history.filter((i) => i.type === 'function_call');
    const outputs = second.history.filter((i) => i.type === 'function_call_result');
    assert.equal(calls.length, 2, JSON.stringify(second.history));
    assert.notEqual(calls[0].callId, calls[1].callId, 'call ids never repeat');
    assert.deepEqual(outputs.map((o) => o.callId), calls.map((c) => c.callId), 'each output follows its call');
    if (model !== 'gpt-fake') assert.match(second.finalOutput, new RegExp(weatherOf('Lyon')));
  });
}

// ---------------------------------------------------------------- Vercel AI SDK

const aiWeather = () => aiTool({
  description: 'Weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => weatherOf(city),
});

function aiProviders() {
  return {
    'openai (Responses API)': createOpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY }),
    'openai.chat': createOpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY }).chat,
    'openai-compatible': createOpenAICompatible({ name: 'gaterouter', baseURL: gw.baseURL, apiKey: TEST_KEY, includeUsage: true }),
  };
}

for (const model of OPENAI_MODELS) {
  for (const label of ['openai (Responses API)', 'openai.chat', 'openai-compatible']) {
    test(`[ai sdk ${label} -> ${model}] generateText, streamText, a tool round trip`, async () => {
      const provider = aiProviders()[label];
      const g = await generateText({ model: provider(model), prompt: 'Say hi' });
      assert.match(g.text, HI[model]);
      assert.ok(g.usage.inputTokens > 0 && g.usage.outputTokens > 0, JSON.stringify(g.usage));
      if (model === 'gpt-fake') assert.equal(g.usage.inputTokens, USAGE.prompt_tokens);

      const s = streamText({ model: provider(model), prompt: 'Say hi' });
      let text = '';
      for await (const d of s.textStream) text += d;
      assert.match(text, HI[model]);
      const su = await s.usage;
      assert.ok(su.inputTokens > 0 && su.outputTokens > 0, JSON.stringify(su));

      const from = mark();
      const t = await generateText({ model: provider(model), prompt: ASK, tools: { get_weather: aiWeather() }, stopWhen: stepCountIs(3) });
      assert.equal(t.steps.length, 2, 'a tool step and an answer step');
      assert.deepEqual(t.steps[0].toolCalls[0].input, { city: 'Paris' });
      assert.match(t.text, new RegExp(RESULT));
      assertFakeRoundTrip(model, from);

      const from2 = mark();
      const ts = streamText({ model: provider(model), prompt: ASK, tools: { get_weather: aiWeather() }, stopWhen: stepCountIs(3) });
      let streamed = '';
      for await (const d of ts.textStream) streamed += d;
      assert.match(streamed, new RegExp(RESULT));
      assertFakeRoundTrip(model, from2);
    });
  }
}

// On a reasoning model name (gpt-5*: the Gemini adapter here, whose
// thinking comes back as reasoning items) the AI SDK's default (store: true)
// sends the last step's reasoning back as an item_reference, not the item
// (the gateway drops it, as it drops a reasoning item sent in full).
test('[ai sdk openai (Responses API) -> gpt-5-mini] a tool loop on a reasoning model: reasoning sent back by item_reference', async () => {
  const sent = [];
  const openai = createOpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY,
    fetch: (url, init) => { sent.push(JSON.parse(init.body)); return fetch(url, init); } });
  const t = await generateText({ model: openai('gpt-5-mini'), prompt: `${ASK} [[mock:reasoning]]`,
    tools: { get_weather: aiWeather() }, stopWhen: stepCountIs(3),
    providerOptions: { openai: { reasoningSummary: 'auto' } } }); // the reasoning shown: an rs_ item per step
  assert.equal(t.steps.length, 2, 'a tool step and an answer step');
  assert.match(t.steps[0].reasoningText, /Reasoning about the request/);
  assert.match(t.text, new RegExp(RESULT));
  assert.ok(sent[1].input.some((i) => i.type === 'item_reference' && i.id.startsWith('rs_')), JSON.stringify(sent[1].input));
});

// The AI SDK's default openai(model) (Responses API, store: true) replays a
// chat's earlier assistant turns (its text and tool calls) as item_references
// to what the gateway stored; the gateway substitutes them (400 before).
test('[ai sdk openai (Responses API) -> gpt-4o-mini] a multi-turn chat replaying response.messages (store: true)', async () => {
  const sent = [];
  const openai = createOpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY,
    fetch: (url, init) => { sent.push(JSON.parse(init.body)); return fetch(url, init); } });
  const messages = [{ role: 'user', content: ASK }];
  const t1 = await generateText({ model: openai('gpt-4o-mini'), messages, tools: { get_weather: aiWeather() },
    stopWhen: stepCountIs(3) });
  assert.match(t1.text, new RegExp(RESULT));
  messages.push(...t1.response.messages, { role: 'user', content: 'Say hi' });
  const from = sent.length;
  const t2 = await generateText({ model: openai('gpt-4o-mini'), messages });
  assert.match(t2.text, MOCK_HI);
  const refs = sent[from].input.filter((i) => i.type === 'item_reference').map((i) => i.id);
  assert.ok(refs.some((id) => id.startsWith('msg_')), JSON.stringify(sent[from].input)); // (its tool calls it sends in full)
  messages.push(...t2.response.messages, { role: 'user', content: 'Say hi again' });
  const t3 = await generateText({ model: openai('gpt-4o-mini'), messages });
  assert.match(t3.text, MOCK_HI);
  assert.ok(t3.usage.inputTokens > t2.usage.inputTokens, `the replayed turns travelled: ${t3.usage.inputTokens} > ${t2.usage.inputTokens}`);
});

test('[ai sdk] embed through openai and openai-compatible', async () => {
  const p = aiProviders();
  for (const m of [p['openai (Responses API)'].embedding('text-embedding-3-small'),
    p['openai-compatible'].textEmbeddingModel('text-embedding-3-small')]) {
    const { embedding, usage } = await embed({ model: m, value: 'hello world' });
    assert.ok(Array.isArray(embedding) && embedding.length > 0 && embedding.every(Number.isFinite));
    assert.ok(usage.tokens > 0, JSON.stringify(usage));
  }
});

for (const model of ANTHROPIC_MODELS) {
  test(`[ai sdk anthropic -> ${model}] generateText, streamText, a tool round trip`, async () => {
    const anthropic = createAnthropic({ baseURL: gw.baseURL, apiKey: TEST_KEY });
    const g = await generateText({ model: anthropic(model), prompt: 'Say hi' });
    assert.match(g.text, HI[model]);
    assert.ok(g.usage.inputTokens > 0 && g.usage.outputTokens > 0, JSON.stringify(g.usage));

    const s = streamText({ model: anthropic(model), prompt: 'Say hi' });
    let text = '';
    for await (const d of s.textStream) text += d;
    assert.match(text, HI[model]);
    const su = await s.usage;
    assert.ok(su.inputTokens > 0, `input tokens of a stream: ${JSON.stringify(su)}`);

    const from = mark();
    const t = await generateText({ model: anthropic(model), prompt: ASK, tools: { get_weather: aiWeather() }, stopWhen: stepCountIs(3) });
    assert.deepEqual(t.steps[0].toolCalls[0].input, { city: 'Paris' });
    assert.match(t.text, new RegExp(RESULT));
    assertFakeRoundTrip(model, from);
  });
}

// The AI SDK sizes max_tokens by the model name (a claude-* name: 128000):
// a model whose window has no room for it is skipped for one whose window
// fits (a context upgrade, README), and maxOutputTokens keeps the model
// asked for. Without any model that fits, the refusal is in Anthropic's words
// (claude_code.test.mjs).
test('[ai sdk anthropic -> claude-small-window] max_tokens beyond the window: a context upgrade; maxOutputTokens keeps the model', async () => {
  const anthropic = createAnthropic({ baseURL: gw.baseURL, apiKey: TEST_KEY });
  const up = await generateText({ model: anthropic('claude-small-window'), prompt: 'Say hi' });
  assert.match(up.response.headers['x-gaterouter-route'], /ctx-upgrade/);
  assert.ok(['claude-mock', 'claude-fake'].includes(up.response.headers['x-gaterouter-model']), up.response.headers['x-gaterouter-model']);
  const kept = await generateText({ model: anthropic('claude-small-window'), prompt: 'Say hi', maxOutputTokens: 1000 });
  assert.equal(kept.response.headers['x-gaterouter-model'], 'claude-small-window');
  assert.match(kept.text, MOCK_HI);
});

// ---------------------------------------------------------------- LangChain

const lcWeather = () => lcTool(async ({ city }) => weatherOf(city), {
  name: 'get_weather', description: 'Weather in a city', schema: z.object({ city: z.string() }),
});

// invoke, stream (usage included), and bindTools: the model's call is run
// by hand and its result sent back, the way a LangChain agent loop does.
async function langchainRoundTrip(chat, model) {
  const r = await chat.invoke('Say hi');
  assert.match(String(r.content === undefined ? '' : r.text), HI[model]);
  assert.ok(r.usage_metadata.input_tokens > 0 && r.usage_metadata.output_tokens > 0, JSON.stringify(r.usage_metadata));

  let acc;
  for await (const chunk of await chat.stream('Say hi')) acc = acc ? acc.concat(chunk) : chunk;
  assert.match(acc.text, HI[model]);
  assert.ok(acc.usage_metadata && acc.usage_metadata.input_tokens > 0, `stream input tokens: ${JSON.stringify(acc.usage_metadata)}`);
  assert.ok(acc.usage_metadata.output_tokens > 0, `stream output tokens: ${JSON.stringify(acc.usage_metadata)}`);

  const from = mark();
  const weather = lcWeather();
  const withTools = chat.bindTools([weather]);
  const ask = new HumanMessage(ASK);
  const ai = await withTools.invoke([ask]);
  assert.equal(ai.tool_calls.length, 1);
  assert.equal(ai.tool_calls[0].name, 'get_weather');
  assert.deepEqual(ai.tool_calls[0].args, { city: 'Paris' });
  const toolMsg = await weather.invoke(ai.tool_calls[0]);
  assert.ok(toolMsg instanceof ToolMessage);
  const final = await withTools.invoke([ask, ai, toolMsg]);
  assert.match(final.text, new RegExp(RESULT));
  assertFakeRoundTrip(model, from);
}

for (const model of OPENAI_MODELS) {
  for (const useResponsesApi of [true, false]) {
    test(`[langchain ChatOpenAI${useResponsesApi ? ' useResponsesApi' : ''} -> ${model}] invoke, stream, bindTools round trip`, async () => {
      const chat = new ChatOpenAI({ model, apiKey: TEST_KEY, configuration: { baseURL: gw.baseURL }, useResponsesApi, maxRetries: 0 });
      await langchainRoundTrip(chat, model);
    });
  }
}

for (const model of ANTHROPIC_MODELS) {
  test(`[langchain ChatAnthropic -> ${model}] invoke, stream (input tokens counted), bindTools round trip`, async () => {
    const chat = new ChatAnthropic({ model, apiKey: TEST_KEY, anthropicApiUrl: gw.base, maxRetries: 0 });
    await langchainRoundTrip(chat, model);
  });
}

// ---------------------------------------------------------------- LlamaIndex

for (const model of OPENAI_MODELS) {
  for (const [label, LLM] of [['OpenAIResponses', LlamaOpenAIResponses], ['OpenAI', LlamaOpenAI]]) {
    test(`[llamaindex ${label} -> ${model}] chat, streamed chat, a tool-calling agent`, async () => {
      const llm = new LLM({ model, apiKey: TEST_KEY, baseURL: gw.baseURL, maxRetries: 0 });
      const r = await llm.chat({ messages: [{ role: 'user', content: 'Say hi' }] });
      assert.match(String(r.message.content), HI[model]);

      let text = '';
      // LlamaIndex's OpenAIResponses yields a chunk for every event and
      // repeats the last delta on the ones that carry no text (its own
      // stream state), so only text-delta events count.
      for await (const chunk of await llm.chat({ messages: [{ role: 'user', content: 'Say hi' }], stream: true }))
        if (!chunk.raw.type || chunk.raw.type === 'response.output_text.delta') text += chunk.delta;
      assert.match(text, HI[model]);

      const from = mark();
      const weather = llamaTool({
        name: 'get_weather', description: 'Weather in a city',
        parameters: z.object({ city: z.string() }),
        execute: ({ city }) => weatherOf(city),
      });
      const a = llamaAgent({ tools: [weather], llm });
      const out = await a.run(ASK);
      assert.match(String(out.data.result), new RegExp(RESULT), JSON.stringify(out.data));
      assertFakeRoundTrip(model, from);
    });
  }
}

// ---------------------------------------------------------------- structured output

// Each framework's default structured-output path: the schema reaches the
// OpenAI-wire upstream as response_format json_schema (from the Responses
// API's text.format where the framework speaks Responses), and the JSON the
// upstream returns comes back parsed.
const WEATHER = z.object({ city: z.string(), temp: z.number() });

function assertSchemaReachedFake(from) {
  const reqs = since(ofake, from);
  assert.equal(reqs.length, 1);
  const rf = reqs[0].body.response_format;
  assert.equal(rf.type, 'json_schema', JSON.stringify(rf));
  assert.deepEqual(Object.keys(rf.json_schema.schema.properties).sort(), ['city', 'temp']);
  assert.deepEqual([...rf.json_schema.schema.required].sort(), ['city', 'temp']);
}

test('[structured output -> gpt-fake] AI SDK generateObject (Responses), LangChain withStructuredOutput (both modes), Agents SDK outputType', async () => {
  const expected = { city: 'Paris', temp: 21 };
  let from = mark().o;
  const g = await generateObject({ model: createOpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY })('gpt-fake'), schema: WEATHER, prompt: 'Weather in Paris?' });
  assert.deepEqual(g.object, expected);
  assertSchemaReachedFake(from);

  for (const useResponsesApi of [true, false]) {
    from = mark().o;
    const chat = new ChatOpenAI({ model: 'gpt-fake', apiKey: TEST_KEY, configuration: { baseURL: gw.baseURL }, useResponsesApi, maxRetries: 0 });
    assert.deepEqual(await chat.withStructuredOutput(WEATHER).invoke('Weather in Paris?'), expected);
    assertSchemaReachedFake(from);
  }

  from = mark().o;
  const r = await run(new Agent({ name: 'Weather', instructions: 'Report the weather.', model: 'gpt-fake', outputType: WEATHER }), 'Weather in Paris?');
  assert.deepEqual(r.finalOutput, expected);
  assertSchemaReachedFake(from);
});
