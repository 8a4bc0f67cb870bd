// responses.test.mjs — POST /v1/responses (the OpenAI Responses API) end to
// end with the official `openai` SDK, against three upstream wires: the
// built-in mock speaking OpenAI chat completions (`mock-gpt`), and a
// standalone `gaterouter mock` reached through the Anthropic (`claude-mock`)
// and Gemini (`gemini-mock`) adapters, and a mock provider that speaks the
// Responses API itself (`mock-responses`, `responses_api: true`: stateless
// requests are relayed, the others translated). Every case runs on each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startStandaloneMock, withNativeProviders, defaultConfig, TEST_KEY } from './harness.mjs';

const MODELS = ['mock-gpt', 'claude-mock', 'gemini-mock', 'mock-responses'];
const OTHER_KEY = 'sk-gaterouter-test-key-0002';
const BUDGET_KEY = 'gr-respbudgetrespbudgetrespbudget01';

let mock, gw, client;

before(async () => {
  mock = await startStandaloneMock();
  gw = await startGateway({
    config: (port, dir) => withNativeProviders(defaultConfig(port, `
  - { name: claude-mock, provider: anth, model: claude-mock-1, pricing: { input: 3, output: 15 }, capabilities: [chat, tools, json, stream, vision] }
  - { name: gemini-mock, provider: gem, model: gemini-mock-1, pricing: { input: 1, output: 2 }, capabilities: [chat, tools, json, stream, vision] }
  - { name: mock-responses, provider: mockr, model: mock-resp-1, pricing: { input: 2, output: 8 }, capabilities: [chat, tools, json, stream, vision] }
  - { name: dead-gpt, provider: dead, model: dead-1, fallbacks: [mock-gpt], pricing: { input: 1, output: 1 }, capabilities: [chat, tools, stream] }
keys:
  - { name: tiny-budget, key: ${BUDGET_KEY}, budget_usd: 0.0001 }
`, dir).replace('capabilities: [chat, tools, json, stream, completions]', 'capabilities: [chat, tools, json, stream, completions, vision]')
      .replace(`keys: [ { name: test, key: ${TEST_KEY} } ]`, `keys: [ { name: test, key: ${TEST_KEY} }, { name: other, key: ${OTHER_KEY} } ]`),
    mock.port, `  - name: mockr
    kind: mock
    responses_api: true
  - name: dead
    kind: openai
    base_url: http://127.0.0.1:1/v1
    timeouts: { connect_ms: 300 }
`),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
});

after(async () => {
  if (gw) assert.equal(await gw.stop(), 0, 'gateway drains and exits 0 on SIGTERM');
  if (mock) {
    assert.equal(await mock.stop(), 0, `mock exits 0 on SIGTERM (sanitizer builds: no leak report)\n${mock.logs()}`);
    assert.doesNotMatch(mock.logs(), /AddressSanitizer|LeakSanitizer|runtime error/, mock.logs());
  }
});

const weather = {
  type: 'function', name: 'get_weather', description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function assertUsage(u, label) {
  assert.ok(u, `${label}: usage`);
  assert.ok(u.input_tokens > 0, `${label}: input_tokens ${u.input_tokens}`);
  assert.ok(u.output_tokens > 0, `${label}: output_tokens ${u.output_tokens}`);
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
  assert.equal(typeof u.input_tokens_details.cached_tokens, 'number');
  assert.equal(typeof u.output_tokens_details.reasoning_tokens, 'number');
  assert.equal(typeof u.cost, 'number', `${label}: usage.cost`);
  assert.ok(u.cost > 0, `${label}: priced model, cost ${u.cost}`);
}

// Collects every event of a streamed response and checks the sequence
// numbers and the SDK's own accumulation.
async function collect(params) {
  const stream = client.responses.stream(params);
  const events = [];
  for await (const ev of stream) events.push(ev);
  const final = await stream.finalResponse();
  events.forEach((ev, i) => assert.equal(ev.sequence_number, i, `sequence_number of ${ev.type}`));
  return { events, final, types: events.map((e) => e.type) };
}

for (const model of MODELS) {
  test(`[${model}] responses.create: text, usage with cost, route headers`, async () => {
    const { data: r, response } = await client.responses
      .create({ model, input: 'hello responses', instructions: 'Be brief.', metadata: { run: 'x' }, user: 'u1' })
      .withResponse();
    assert.match(r.id, /^resp_/);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.model, model);
    assert.equal(r.instructions, 'Be brief.');
    assert.deepEqual(r.metadata, { run: 'x' });
    assert.equal(r.user, 'u1');
    assert.match(r.output_text, /You said: hello responses/);
    const msg = r.output.find((o) => o.type === 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.status, 'completed');
    assert.deepEqual(msg.content[0].annotations, []);
    assertUsage(r.usage, model);
    assert.equal(response.headers.get('x-gaterouter-model'), model);
    assert.ok(response.headers.get('x-gaterouter-route'));
    assert.equal(Number(response.headers.get('x-gaterouter-cost')), r.usage.cost);
  });

  test(`[${model}] responses.create: text.format json_schema`, async () => {
    const r = await client.responses.create({
      model, input: 'give me json',
      text: { format: { type: 'json_schema', name: 'echo', schema: { type: 'object', properties: { mock: { type: 'boolean' } } } } },
    });
    const j = JSON.parse(r.output_text);
    assert.equal(j.mock, true);
    assert.equal(r.text.format.type, 'json_schema');
  });

  test(`[${model}] responses.create: image and text input parts`, async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const r = await client.responses.create({
      model,
      input: [{ role: 'user', content: [
        { type: 'input_text', text: 'describe the picture' },
        { type: 'input_image', image_url: `data:image/png;base64,${png}` },
      ] }],
    });
    assert.match(r.output_text, /describe the picture/);
  });

  test(`[${model}] responses.stream: the collected text equals the non-streamed text`, async () => {
    const input = [{ role: 'developer', content: 'Answer plainly.' }, { role: 'user', content: 'stream me please' }];
    const plain = await client.responses.create({ model, input });
    const { events, final, types } = await collect({ model, input });
    assert.equal(types[0], 'response.created');
    assert.equal(types[1], 'response.in_progress');
    assert.equal(types.at(-1), 'response.completed');
    for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
      'response.output_text.done', 'response.content_part.done', 'response.output_item.done'])
      assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    assert.ok(deltas.length > 1, 'text arrives in several deltas');
    assert.equal(deltas.map((d) => d.delta).join(''), plain.output_text);
    assert.equal(final.output_text, plain.output_text);
    assert.equal(final.status, 'completed');
    assertUsage(final.usage, `${model} stream`);
    const done = events.find((e) => e.type === 'response.output_text.done');
    assert.equal(done.text, plain.output_text);
    assert.equal(done.output_index, 0);
    assert.equal(done.content_index, 0);
  });

  test(`[${model}] reasoning summaries, non-streamed and streamed`, async () => {
    const params = { model, input: 'think first [[mock:reasoning]]', reasoning: { effort: 'low', summary: 'auto' } };
    const r = await client.responses.create(params);
    const rs = r.output.find((o) => o.type === 'reasoning');
    assert.ok(rs, `a reasoning item in ${JSON.stringify(r.output)}`);
    assert.equal(rs.summary[0].type, 'summary_text');
    assert.match(rs.summary[0].text, /Reasoning about the request/);
    assert.equal(r.output.indexOf(rs), 0, 'reasoning comes before the message');
    assert.match(r.output_text, /You said: think first/);
    assert.deepEqual(r.reasoning, { effort: 'low', summary: 'auto' });
    const { events, final } = await collect(params);
    const sdeltas = events.filter((e) => e.type === 'response.reasoning_summary_text.delta');
    assert.ok(sdeltas.length >= 1);
    assert.equal(sdeltas.map((d) => d.delta).join(''), rs.summary[0].text);
    assert.ok(events.some((e) => e.type === 'response.reasoning_summary_part.added'));
    assert.ok(events.some((e) => e.type === 'response.reasoning_summary_text.done'));
    const msgAdded = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'message');
    assert.equal(msgAdded.output_index, 1, 'the message is the second output item');
    assert.equal(final.output[0].summary[0].text, rs.summary[0].text);
    assert.equal(final.output_text, r.output_text);
  });

  test(`[${model}] function tools: call, then the result through previous_response_id`, async () => {
    const r1 = await client.responses.create({ model, input: 'weather in Paris?', tools: [weather, { type: 'web_search' }] });
    const call = r1.output.find((o) => o.type === 'function_call');
    assert.ok(call, JSON.stringify(r1.output));
    assert.equal(call.name, 'get_weather');
    assert.ok(call.call_id);
    assert.match(call.id, /^fc_/);
    assert.deepEqual(Object.keys(JSON.parse(call.arguments)), ['city']);
    const r2 = await client.responses.create({
      model, previous_response_id: r1.id, tools: [weather],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' }],
    });
    assert.equal(r2.previous_response_id, r1.id);
    assert.match(r2.output_text, /The tool returned: \{"temp_c":21\}/);
    // the question and the call travelled with the result: more input than the result alone
    const alone = await client.responses.create({ model, tools: [weather], store: false, input: [
      { type: 'function_call', call_id: call.call_id, name: 'get_weather', arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' }] });
    assert.ok(r2.usage.input_tokens > alone.usage.input_tokens,
      `with history ${r2.usage.input_tokens} > without ${alone.usage.input_tokens}`);
    // a third turn on the same chain: the whole conversation is rebuilt
    const r3 = await client.responses.create({ model, previous_response_id: r2.id, input: 'and tomorrow?', tools: [weather] });
    assert.ok(r3.output.some((o) => o.type === 'function_call'), 'the model calls the tool again');
  });

  // The AI SDK's default (store: true) replays earlier turns by reference:
  // the user's messages in full, the assistant's items as item_reference.
  test(`[${model}] a 3-turn conversation replaying the assistant's items by item_reference`, async () => {
    const r1 = await client.responses.create({ model, input: 'weather in Paris?', tools: [weather] });
    const call = r1.output.find((o) => o.type === 'function_call');
    assert.ok(call, JSON.stringify(r1.output));
    const result = { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' };
    const r2 = await client.responses.create({ model, tools: [weather], tool_choice: 'none', input: [
      { role: 'user', content: 'weather in Paris?' }, { type: 'item_reference', id: call.id }, result] });
    assert.match(r2.output_text, /The tool returned: \{"temp_c":21\}/);
    const msg = r2.output.find((o) => o.type === 'message');
    assert.match(msg.id, /^msg_/);
    const turn3 = (call2, msg2) => [{ role: 'user', content: 'weather in Paris?' }, call2, result, msg2,
      { role: 'user', content: 'and tomorrow, in one word?' }];
    const r3 = await client.responses.create({ model, tools: [weather], tool_choice: 'none',
      input: turn3({ type: 'item_reference', id: call.id }, { type: 'item_reference', id: msg.id }) });
    assert.equal(r3.status, 'completed');
    // the references carried exactly what the items themselves carry
    const inline = await client.responses.create({ model, tools: [weather], tool_choice: 'none', store: false,
      input: turn3({ type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: r2.output_text }] }) });
    assert.equal(r3.usage.input_tokens, inline.usage.input_tokens);
    // and the stored input items hold the items themselves
    const items = await client.responses.inputItems.list(r3.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => i.type), ['message', 'function_call', 'function_call_output', 'message', 'message']);
    assert.equal(items.data[1].id, call.id);
  });

  test(`[${model}] streamed function call: arguments deltas reassemble`, async () => {
    const { events, final } = await collect({ model, input: 'weather?', tools: [weather], tool_choice: 'required' });
    const added = events.find((e) => e.type === 'response.output_item.added');
    assert.equal(added.item.type, 'function_call');
    const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta');
    const done = events.find((e) => e.type === 'response.function_call_arguments.done');
    assert.equal(deltas.map((d) => d.delta).join(''), done.arguments);
    assert.equal(final.output[0].arguments, done.arguments);
    assert.equal(final.output[0].status, 'completed');
    JSON.parse(done.arguments);
  });

  test(`[${model}] agent loop: 6 tool turns chained with previous_response_id, streamed`, async () => {
    let prev = null;
    let input = 'do the task step by step [[mock:tool_turns=6]]';
    let calls = 0;
    for (let turn = 0; turn < 10; turn++) {
      const { final } = await collect({ model, input, tools: [weather], ...(prev ? { previous_response_id: prev } : {}) });
      prev = final.id;
      const call = final.output.find((o) => o.type === 'function_call');
      if (!call) {
        assert.match(final.output_text, /The tool returned: .*result 6/);
        break;
      }
      calls++;
      input = [{ type: 'function_call_output', call_id: call.call_id, output: `result ${calls}` }];
    }
    assert.equal(calls, 6);
  });

  test(`[${model}] stateless agent loop (store: false, the whole input each turn, as Codex does)`, async () => {
    const input = [{ role: 'developer', content: 'You are an agent.' },
      { role: 'user', content: [{ type: 'input_text', text: 'go [[mock:tool_turns=5]]' }] }];
    let calls = 0;
    for (let turn = 0; turn < 8; turn++) {
      const r = await client.responses.create({ model, input, tools: [weather], store: false,
        include: ['reasoning.encrypted_content'], parallel_tool_calls: false });
      assert.equal(r.store, false);
      const call = r.output.find((o) => o.type === 'function_call');
      if (!call) break;
      calls++;
      input.push(...r.output, { type: 'function_call_output', call_id: call.call_id, output: `ok ${calls}` });
    }
    assert.equal(calls, 5);
  });

  test(`[${model}] an upstream that dies mid-stream ends in response.failed`, async () => {
    const res = await fetch(`${gw.baseURL}/responses`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
      body: JSON.stringify({ model, input: 'cut [[mock:tokens=40]] [[mock:cut]]', stream: true }),
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    const types = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.failed', types.join(','));
    assert.ok(!types.includes('response.completed'));
    const last = JSON.parse(text.trim().split('\n').at(-1).slice(6));
    assert.equal(last.response.status, 'failed');
    assert.ok(last.response.error.message);
  });
}

test('errors come in the Responses (OpenAI) shape', async () => {
  await assert.rejects(client.responses.create({ model: 'mock-gpt' }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.error.type, 'invalid_request_error');
    assert.equal(e.error.param, 'input');
    return true;
  });
  await assert.rejects(client.responses.create({ model: 'no-such-model', input: 'x' }), (e) => e.status === 404);
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: [{ type: 'item_reference', id: 'x' }] }),
    (e) => e.status === 400 && /item_reference/.test(e.message));
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: 'x', text: { format: { type: 'xml' } } }),
    (e) => e.status === 400 && e.error.param === 'text.format');
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: 'x', tools: [{ type: 'function' }] }),
    (e) => e.status === 400 && e.error.param === 'tools');
});

test('max_output_tokens cuts the answer: status incomplete', async () => {
  const r = await client.responses.create({ model: 'mock-gpt', input: 'long [[mock:tokens=50]]', max_output_tokens: 5 });
  assert.equal(r.status, 'incomplete');
  assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  assert.equal(r.usage.output_tokens, 5);
});

for (const model of MODELS) {
  test(`[${model}] stored responses: retrieve, input_items (paginated), delete; instructions are not carried over`, async () => {
    const r1 = await client.responses.create({ model, instructions: 'Speak like a pirate.', input: [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: [{ type: 'input_text', text: 'second question' }] }] });
    const got = await client.responses.retrieve(r1.id);
    assert.deepEqual(got, { ...r1, output_text: got.output_text });
    assert.equal(got.output_text, r1.output_text);
    const page1 = await client.responses.inputItems.list(r1.id, { limit: 2, order: 'asc' });
    assert.equal(page1.data.length, 2);
    assert.equal(page1.has_more, true);
    assert.equal(page1.data[0].content[0].text ?? page1.data[0].content, 'first question');
    const all = [];
    for await (const it of client.responses.inputItems.list(r1.id, { limit: 1, order: 'asc' })) all.push(it);
    assert.equal(all.length, 3, 'auto-pagination with `after` walks every item');
    assert.equal(new Set(all.map((i) => i.id)).size, 3);
    const desc = await client.responses.inputItems.list(r1.id);
    assert.equal(desc.data[0].id, all[2].id, 'default order is desc');
    // a continuation without instructions: the stored ones do not apply
    const r2 = await client.responses.create({ model, previous_response_id: r1.id, input: 'third' });
    assert.equal(r2.instructions, null);
    const del = await client.responses.delete(r1.id).catch((e) => e);
    assert.ok(!(del instanceof Error), String(del));
    await assert.rejects(client.responses.retrieve(r1.id), (e) => e.status === 404);
    await assert.rejects(client.responses.create({ model, previous_response_id: r1.id, input: 'again' }),
      (e) => e.status === 404 && e.error.param === 'previous_response_id');
  });
}

test('a key sees only its own stored responses', async () => {
  const r = await client.responses.create({ model: 'mock-gpt', input: 'mine' });
  const other = new OpenAI({ baseURL: gw.baseURL, apiKey: OTHER_KEY, maxRetries: 0 });
  await assert.rejects(other.responses.retrieve(r.id), (e) => e.status === 404);
  await assert.rejects(other.responses.inputItems.list(r.id), (e) => e.status === 404);
  await assert.rejects(other.responses.delete(r.id), (e) => e.status === 404);
  await assert.rejects(other.responses.create({ model: 'mock-gpt', previous_response_id: r.id, input: 'x' }),
    (e) => e.status === 404);
  assert.equal((await client.responses.retrieve(r.id)).id, r.id, 'still there for its owner');
});

test('item_reference: another key\'s item, an unknown item → 404 not_found; a reasoning reference is dropped; a bad id → 400', async () => {
  const r = await client.responses.create({ model: 'mock-gpt', input: 'hello' });
  const msg = r.output.find((o) => o.type === 'message');
  const other = new OpenAI({ baseURL: gw.baseURL, apiKey: OTHER_KEY, maxRetries: 0 });
  const notFound = (id) => (e) => {
    assert.equal(e.status, 404);
    assert.equal(e.error.code, 'not_found');
    assert.equal(e.error.param, 'input');
    assert.equal(e.error.message, `Item with id '${id}' not found.`);
    return true;
  };
  await assert.rejects(other.responses.create({ model: 'mock-gpt', input: [
    { role: 'user', content: 'hello' }, { type: 'item_reference', id: msg.id }, { role: 'user', content: 'more' }] }),
  notFound(msg.id));
  const unknown = `msg_${'0'.repeat(30)}`;
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: [{ type: 'item_reference', id: unknown }] }),
    notFound(unknown));
  // a response that exists, an item it never had
  const wrongItem = `fc_${r.id.slice(5)}_7`;
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: [{ type: 'item_reference', id: wrongItem }] }),
    notFound(wrongItem));
  const ok = await client.responses.create({ model: 'mock-gpt', input: [
    { role: 'user', content: 'hello' }, { type: 'item_reference', id: 'rs_abc' }, { type: 'item_reference', id: msg.id },
    { role: 'user', content: 'more' }] });
  assert.equal(ok.status, 'completed');
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: [{ type: 'item_reference', id: 'msg_zz' }] }),
    (e) => e.status === 400 && e.error.param === 'input');
  const many = Array.from({ length: 17 }, (_, k) => ({ type: 'item_reference', id: `msg_${k.toString(16).padStart(4, '0')}` }));
  await assert.rejects(client.responses.create({ model: 'mock-gpt', input: many }),
    (e) => e.status === 400 && e.error.param === 'input' && /16 distinct responses/.test(e.message));
});

test('store: false keeps nothing; a streamed response is stored like a JSON one', async () => {
  const r = await client.responses.create({ model: 'mock-gpt', input: 'forget me', store: false });
  assert.equal(r.store, false);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e.status === 404);
  const stream = client.responses.stream({ model: 'mock-gpt', input: 'remember me' });
  const final = await stream.finalResponse();
  const got = await client.responses.retrieve(final.id);
  assert.equal(got.output_text, final.output_text);
  assert.equal(got.status, 'completed');
});

test('GET /v1/responses/{id}: bad methods and paths', async () => {
  const h = { authorization: `Bearer ${TEST_KEY}` };
  const put = await fetch(`${gw.baseURL}/responses/resp_x`, { method: 'PUT', headers: h });
  assert.equal(put.status, 405);
  assert.match(put.headers.get('allow'), /DELETE/);
  const deep = await fetch(`${gw.baseURL}/responses/resp_x/other`, { headers: h });
  assert.equal(deep.status, 404);
  const bad = await fetch(`${gw.baseURL}/responses/resp_x/input_items?limit=0`, { headers: h });
  assert.equal(bad.status, 404, 'an unknown response is 404 before its query is read');
  const noauth = await fetch(`${gw.baseURL}/responses/resp_x`);
  assert.equal(noauth.status, 401);
});

test('[mock-responses] stateless requests are relayed to an upstream that speaks Responses, metered', async () => {
  const { data: r, response } = await client.responses
    .create({ model: 'mock-responses', input: 'relay me', store: false, tools: [{ type: 'web_search' }] })
    .withResponse();
  assert.match(r.id, /^resp_mock/, 'the upstream\'s own Response');
  assert.match(r.output_text, /mock-resp-1\. You said: relay me/);
  assertUsage(r.usage, 'relayed');
  assert.equal(Number(response.headers.get('x-gaterouter-cost')), r.usage.cost);
  assert.equal(response.headers.get('x-gaterouter-provider'), 'mockr');
  const { events, final } = await collect({ model: 'mock-responses', input: 'relay me', store: false });
  assert.match(final.id, /^resp_mock/);
  assert.equal(final.output_text, r.output_text);
  assertUsage(final.usage, 'relayed stream');
  assert.equal(events.at(-1).type, 'response.completed');
  // with gateway state (store, the default) the same model is served through chat completions
  const kept = await client.responses.create({ model: 'mock-responses', input: 'relay me' });
  assert.doesNotMatch(kept.id, /^resp_mock/);
  assert.equal(kept.output_text, r.output_text);
});

test('[mock-responses] a relayed stream whose upstream dies ends with an error event', async () => {
  const res = await fetch(`${gw.baseURL}/responses`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify({ model: 'mock-responses', input: 'cut [[mock:tokens=40]] [[mock:cut]]', stream: true, store: false }),
  });
  const text = await res.text();
  const types = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'error', types.join(','));
  assert.ok(!types.includes('response.completed'));
});

test('metering, budgets and routing work as on chat completions', async () => {
  // cost at the configured prices (mock-gpt: 0.15 / 0.60 USD per 1M tokens)
  const r = await client.responses.create({ model: 'mock-gpt', input: 'price me' });
  const want = (r.usage.input_tokens * 0.15 + r.usage.output_tokens * 0.60) / 1e6;
  assert.ok(Math.abs(r.usage.cost - want) < 1e-12, `cost ${r.usage.cost} vs ${want}`);
  // a dead primary: the configured fallback serves, the headers say so
  const { data: fb, response } = await client.responses.create({ model: 'dead-gpt', input: 'fall back' }).withResponse();
  assert.match(fb.output_text, /mock-gpt-1/);
  assert.equal(response.headers.get('x-gaterouter-model'), 'mock-gpt');
  assert.ok(Number(response.headers.get('x-gaterouter-attempts')) >= 2, 'the dead primary was tried first');
  assert.match(response.headers.get('x-gaterouter-route'), /after dead/);
  // model: auto is routed like a chat request
  const { response: autoRes } = await client.responses.create({ model: 'auto', input: 'route me' }).withResponse();
  assert.ok(autoRes.headers.get('x-gaterouter-model'));
  // a key's budget stops it with the typed 402
  const b = new OpenAI({ baseURL: gw.baseURL, apiKey: BUDGET_KEY, maxRetries: 0 });
  let ok = 0, err;
  for (let i = 0; i < 50 && !err; i++) {
    try { await b.responses.create({ model: 'mock-gpt', input: '[[mock:tokens=20]]', max_output_tokens: 20 }); ok++; } catch (e) { err = e; }
  }
  assert.ok(err instanceof OpenAI.APIError, String(err));
  assert.equal(err.status, 402);
  assert.equal(err.code, 'budget_exceeded');
  assert.ok(ok >= 1 && ok < 50, `served ${ok} before the budget stopped it`);
});
