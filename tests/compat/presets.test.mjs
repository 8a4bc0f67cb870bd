// presets.test.mjs — the OpenAI-compatible presets (`providers[].preset`)
// against recording fakes that refuse what each real service refuses
// (preset_fakes.mjs): for every preset a chat, a stream with usage, a tool
// round trip and JSON mode pass through; then each quirk the gateway
// translates (DeepSeek reasoning_content, Mistral's tool-call ids and strict
// schema, Groq's unsupported fields and n, xAI's reasoning models,
// OpenRouter's usage object, max_completion_tokens renames), a stream relayed
// byte by byte, and --check-config refusing a preset without its key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startGateway, TEST_KEY, repoRoot } from './harness.mjs';
import { startPresetFake } from './preset_fakes.mjs';

// preset -> [upstream model, needs a key]
const PRESETS = {
  deepseek: ['deepseek-reasoner', true],
  mistral: ['mistral-small-latest', true],
  groq: ['llama-3.3-70b-versatile', true],
  together: ['meta-llama/Llama-3.3-70B-Instruct-Turbo', true],
  fireworks: ['accounts/fireworks/models/llama-v3p1-8b-instruct', true],
  xai: ['grok-4', true],
  openrouter: ['anthropic/claude-sonnet-4', true],
  vllm: ['qwen-think', false],
  ollama: ['qwen3:8b-think', false],
  llamacpp: ['deepseek-r1-think', false],
  lmstudio: ['qwen3-think', false],
};
const KEY = (p) => `sk-${p}-upstream-key-0001`;

let fake, slow, split, gw, client;
before(async () => {
  fake = await startPresetFake();
  slow = await startPresetFake({ byteByByte: true });
  split = await startPresetFake({ splitEvery: true });
  const providers = Object.entries(PRESETS).map(([p, [, keyed]]) =>
    `  - { name: ${p}, preset: ${p}, base_url: "http://127.0.0.1:${fake.port}/${p}/v1"${keyed ? `, api_key: ${KEY(p)}` : ''}${
      p === 'openrouter' ? ', openrouter_provider: { order: [anthropic, amazon-bedrock], allow_fallbacks: false }' : ''} }`);
  providers.push(`  - { name: plain, kind: openai, base_url: "http://127.0.0.1:${fake.port}/plain/v1", api_key: k }`);
  providers.push(`  - { name: slow-deepseek, preset: deepseek, base_url: "http://127.0.0.1:${slow.port}/deepseek/v1", api_key: ${KEY('deepseek')} }`);
  for (const p of ['deepseek', 'mistral', 'groq'])
    providers.push(`  - { name: split-${p}, preset: ${p}, base_url: "http://127.0.0.1:${split.port}/${p}/v1", api_key: ${KEY(p)} }`);
  providers.push(`  - { name: slow-mistral, preset: mistral, base_url: "http://127.0.0.1:${slow.port}/mistral/v1", api_key: ${KEY('mistral')} }`);
  const models = Object.entries(PRESETS).map(([p, [m]]) =>
    `  - { name: ${p}-m, provider: ${p}, model: "${m}", pricing: { input: 1, output: 2 }, capabilities: [chat, tools, json, stream] }`);
  models.push('  - { name: plain-m, provider: plain, model: gpt-4o, pricing: { input: 1, output: 2 } }');
  models.push('  - { name: grok-mini, provider: xai, model: grok-3-mini, pricing: { input: 1, output: 2 } }');
  models.push('  - { name: slow-deepseek-m, provider: slow-deepseek, model: deepseek-reasoner, pricing: { input: 1, output: 2 } }');
  models.push('  - { name: split-deepseek-m, provider: split-deepseek, model: deepseek-reasoner, pricing: { input: 1, output: 2 } }');
  models.push('  - { name: split-mistral-m, provider: split-mistral, model: mistral-small-latest, pricing: { input: 1, output: 2 } }');
  models.push('  - { name: split-groq-m, provider: split-groq, model: llama-3.3-70b-versatile, pricing: { input: 1, output: 2 } }');
  models.push('  - { name: slow-mistral-m, provider: slow-mistral, model: mistral-small-latest, pricing: { input: 1, output: 2 } }');
  gw = await startGateway({
    config: (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "-", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
routing: { health: { rate_limit_cooldown_ms: 0, consecutive_failures: 1000 } }
providers:
${providers.join('\n')}
models:
${models.join('\n')}
`,
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
});
after(async () => {
  await gw?.stop();
  await fake?.close();
  await slow?.close();
  await split?.close();
});

// The requests the fake received for `preset` since `from`.
const seen = (preset, from) => fake.requests.slice(from).filter((r) => r.preset === preset);
const TOOLS = [{ type: 'function', function: { name: 'weather', description: 'weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

for (const [preset, [upstreamModel, keyed]] of Object.entries(PRESETS)) {
  test(`${preset}: chat, stream with usage, tool round trip and JSON mode pass through`, async () => {
    const model = `${preset}-m`;
    const from = fake.requests.length;

    const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 50 });
    assert.equal(chat.choices[0].message.content, `hello from ${preset}`);
    assert.equal(chat.usage.prompt_tokens, 11);

    const stream = await client.chat.completions.create({ model, stream: true, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'hi' }] });
    let text = '', usage = null;
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content || '';
      if (c.usage) usage = c.usage;
    }
    assert.equal(text, `hello from ${preset}`);
    assert.ok(usage, 'the stream carries usage');
    assert.equal(usage.completion_tokens, 7);

    const first = await client.chat.completions.create({ model, tools: TOOLS, messages: [{ role: 'user', content: 'weather in Paris?' }] });
    const call = first.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'weather');
    const second = await client.chat.completions.create({ model, tools: TOOLS, messages: [
      { role: 'user', content: 'weather in Paris?' },
      // what a client gets back, it sends back (DeepSeek refuses a tool turn without it)
      { role: 'assistant', content: null, tool_calls: [call], ...(first.choices[0].message.reasoning_content
        ? { reasoning_content: first.choices[0].message.reasoning_content } : {}) },
      { role: 'tool', tool_call_id: call.id, content: 'sunny' }] });
    assert.equal(second.choices[0].message.content, 'done: sunny');

    const json = await client.chat.completions.create({ model, response_format: { type: 'json_object' },
      messages: [{ role: 'user', content: 'reply in JSON' }] });
    assert.deepEqual(JSON.parse(json.choices[0].message.content), { ok: true });

    const recs = seen(preset, from);
    assert.equal(recs.length, 5);
    for (const r of recs) {
      assert.equal(r.reply, 200, `${preset} accepted ${r.raw}`);
      assert.equal(r.body.model, upstreamModel);
      assert.equal(r.headers.authorization, keyed ? `Bearer ${KEY(preset)}` : undefined);
    }
    // max_completion_tokens reaches every preset under a name it honours
    const limit = recs[0].body;
    assert.equal(limit.max_tokens ?? limit.max_completion_tokens, 50);
  });
}

test('defaults: a preset without base_url gets the service URL (seen by --check-config as valid)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-preset-'));
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const check = (providers) => {
    const path = join(dir, 'c.yaml');
    writeFileSync(path, `server: { listen: 127.0.0.1:0 }\nproviders:\n${providers}\nmodels:\n  - { name: m, provider: p, model: x }\n`);
    try {
      return { code: 0, out: execFileSync(bin, ['--check-config', path], { stdio: 'pipe' }).toString() };
    } catch (e) {
      return { code: e.status, out: `${e.stdout}${e.stderr}` };
    }
  };
  assert.equal(check('  - { name: p, preset: ollama }').code, 0);
  assert.equal(check('  - { name: p, preset: groq, api_key: k }').code, 0);
  const nokey = check('  - { name: p, preset: groq }');
  assert.equal(nokey.code, 1);
  assert.match(nokey.out, /providers\[0\]\.api_key: required for preset groq/);
  const wrongKind = check('  - { name: p, preset: mistral, kind: anthropic, api_key: k }');
  assert.equal(wrongKind.code, 1);
  assert.match(wrongKind.out, /preset: mistral is an OpenAI-compatible service; kind must be openai/);
  const misplaced = check('  - { name: p, preset: groq, api_key: k, openrouter_provider: { order: [a] } }');
  assert.equal(misplaced.code, 1);
  assert.match(misplaced.out, /openrouter_provider: only with preset: openrouter/);
  assert.equal(check('  - { name: p, preset: openrouter, api_key: k, openrouter_provider: [a] }').code, 1);
  const typo = check('  - { name: p, preset: mistrall, api_key: k }');
  assert.equal(typo.code, 1);
  assert.match(typo.out, /did you mean mistral\?/);
});

test('deepseek: reasoning_content comes back on chat, streams and /v1/messages; logprobs (refused in thinking mode) are dropped', async () => {
  const from = fake.requests.length;
  const chat = await client.chat.completions.create({ model: 'deepseek-m', logprobs: true, top_logprobs: 2,
    messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.choices[0].message.reasoning_content, 'Let me think.');
  let reasoning = '';
  for await (const c of await client.chat.completions.create({ model: 'deepseek-m', stream: true,
    messages: [{ role: 'user', content: 'hi' }] })) reasoning += c.choices[0]?.delta?.reasoning_content || '';
  assert.equal(reasoning, 'Let me think.');
  const msg = await fetch(`${gw.base}/v1/messages`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'deepseek-m', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(msg.status, 200);
  const m = await msg.json();
  assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text']);
  assert.equal(m.content[0].thinking, 'Let me think.');
  const recs = seen('deepseek', from);
  assert.ok(recs.every((r) => r.reply === 200 && !('logprobs' in r.body) && !('top_logprobs' in r.body)));
});

test('deepseek over /v1/messages: the thinking of a tool-use turn goes back as reasoning_content (required); to Groq it is not sent', async () => {
  const post = (model, messages) => fetch(`${gw.base}/v1/messages`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 200, messages,
      tools: [{ name: 'weather', description: 'weather in a city', input_schema: TOOLS[0].function.parameters }] }) });
  const from = fake.requests.length;
  const ask = [{ role: 'user', content: 'weather in Paris?' }];
  const r1 = await post('deepseek-m', ask);
  assert.equal(r1.status, 200);
  const m1 = await r1.json();
  assert.deepEqual(m1.content.map((b) => b.type), ['thinking', 'tool_use']);
  const use = m1.content[1];
  const turn2 = [...ask, { role: 'assistant', content: m1.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] }];
  const r2 = await post('deepseek-m', turn2);
  assert.equal(r2.status, 200, await r2.clone().text());
  const m2 = await r2.json();
  assert.equal(m2.content.at(-1).text, 'done: sunny');
  const sent = seen('deepseek', from)[1].body.messages[1];
  assert.equal(sent.reasoning_content, 'Let me think.');
  assert.equal(sent.tool_calls[0].id, use.id);
  // the same conversation to a service that refuses the field
  const from2 = fake.requests.length;
  const r3 = await post('groq-m', turn2);
  assert.equal(r3.status, 200, await r3.clone().text());
  const g = seen('groq', from2)[0];
  assert.equal(g.reply, 200);
  assert.ok(!('reasoning_content' in g.body.messages[1]));
  // nor to an OpenAI-compatible upstream without a preset
  const from3 = fake.requests.length;
  const r4 = await post('plain-m', turn2);
  assert.equal(r4.status, 200, await r4.clone().text());
  const plain = seen('plain', from3)[0].body.messages[1];
  assert.ok(plain.tool_calls && !('reasoning_content' in plain));
});

test('ollama and vllm: their `reasoning` comes back as reasoning_content (chat and stream) and as thinking on /v1/messages', async () => {
  for (const model of ['ollama-m', 'vllm-m']) {
    const chat = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.choices[0].message.reasoning_content, 'Let me think.', model);
    assert.ok(!('reasoning' in chat.choices[0].message));
    let reasoning = '', other = 0;
    for await (const c of await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] })) {
      reasoning += c.choices[0]?.delta?.reasoning_content || '';
      if (c.choices[0]?.delta && 'reasoning' in c.choices[0].delta) other++;
    }
    assert.equal(reasoning, 'Let me think.', model);
    assert.equal(other, 0);
    const msg = await fetch(`${gw.base}/v1/messages`, { method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }) });
    const m = await msg.json();
    assert.deepEqual(m.content.map((b) => [b.type, b.thinking ?? b.text]), [['thinking', 'Let me think.'], ['text', `hello from ${model.split('-')[0]}`]]);
  }
});

test('mistral: tool-call ids from another provider are mapped to 9 characters, consistently; seed, stream_options, user, names, reasoning_content fixed', async () => {
  const from = fake.requests.length;
  const foreign = 'call_9f2c1e7d4b8a4c6e';
  const res = await client.chat.completions.create({ model: 'mistral-m', tools: TOOLS, seed: 7, user: 'u1',
    max_completion_tokens: 40, parallel_tool_calls: false, messages: [
      { role: 'user', name: 'alice', content: 'weather in Paris?' },
      { role: 'assistant', content: null, reasoning_content: 'thought elsewhere',
        tool_calls: [{ id: foreign, type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_01A', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } }] },
      { role: 'tool', tool_call_id: foreign, content: 'sunny' },
      { role: 'tool', tool_call_id: 'toolu_01A', content: 'rain' }] });
  assert.equal(res.choices[0].message.content, 'done: rain');
  const [r] = seen('mistral', from);
  assert.equal(r.reply, 200);
  const ids = r.body.messages[1].tool_calls.map((c) => c.id);
  assert.ok(ids.every((id) => /^[a-zA-Z0-9]{9}$/.test(id)), ids.join());
  assert.notEqual(ids[0], ids[1]);
  assert.deepEqual([r.body.messages[2].tool_call_id, r.body.messages[3].tool_call_id], ids);
  assert.equal(r.body.random_seed, 7);
  assert.equal(r.body.max_tokens, 40);
  assert.equal(r.body.parallel_tool_calls, false);
  assert.ok(!('seed' in r.body) && !('user' in r.body) && !('reasoning_content' in r.body.messages[1]) && !('name' in r.body.messages[0]));

  // the same conversation twice maps to the same ids (no state in the gateway)
  await client.chat.completions.create({ model: 'mistral-m', tools: TOOLS, messages: [
    { role: 'user', content: 'weather in Paris?' },
    { role: 'assistant', content: null, tool_calls: [{ id: foreign, type: 'function', function: { name: 'weather', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: foreign, content: 'sunny' }] });
  const again = seen('mistral', from)[1];
  assert.equal(again.body.messages[1].tool_calls[0].id, ids[0]);

  // a stream: stream_options (refused) is not sent, usage still arrives
  const from2 = fake.requests.length;
  let usage = null;
  for await (const c of await client.chat.completions.create({ model: 'mistral-m', stream: true,
    messages: [{ role: 'user', content: 'hi' }] })) if (c.usage) usage = c.usage;
  const s = seen('mistral', from2)[0];
  assert.equal(s.reply, 200);
  assert.ok(!('stream_options' in s.body));
  assert.equal(usage?.completion_tokens, 7);

  // /v1/messages streamed to Mistral: its unasked usage reaches message_delta
  const from3 = fake.requests.length;
  const ev = await fetch(`${gw.base}/v1/messages`, { method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': TEST_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'mistral-m', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  const events = (await ev.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  const delta = events.find((e) => e.type === 'message_delta');
  assert.equal(delta.usage.output_tokens, 7);
  assert.equal(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''), 'hello from mistral');
  const m = seen('mistral', from3)[0];
  assert.equal(m.reply, 200);
  assert.ok(!('stream_options' in m.body));
});

test('groq: n > 1 is refused by the gateway (400, upstream never called); logprobs, logit_bias, names and reasoning_content dropped', async () => {
  const from = fake.requests.length;
  await assert.rejects(client.chat.completions.create({ model: 'groq-m', n: 2, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 400 && /n must be 1/.test(e.message));
  assert.equal(seen('groq', from).length, 0);
  const res = await client.chat.completions.create({ model: 'groq-m', n: 1, logprobs: true, top_logprobs: 3, logit_bias: { 50256: -100 },
    messages: [{ role: 'user', name: 'alice', content: 'hi' },
      { role: 'assistant', content: 'hello', reasoning_content: 'hm' }, { role: 'user', content: 'again' }] });
  assert.equal(res.choices[0].message.content, 'hello from groq');
  const [r] = seen('groq', from);
  assert.equal(r.reply, 200);
  assert.equal(r.body.n, 1);
  assert.ok(!('name' in r.body.messages[0]) && !('reasoning_content' in r.body.messages[1]));
});

test('xai: grok-4 gets no reasoning_effort, penalties or stop; grok-3-mini gets effort low|high', async () => {
  const from = fake.requests.length;
  const a = await client.chat.completions.create({ model: 'xai-m', reasoning_effort: 'high', stop: ['\n\n'],
    presence_penalty: 0.5, frequency_penalty: 0.5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(a.choices[0].message.content, 'hello from xai');
  const b = await client.chat.completions.create({ model: 'grok-mini', reasoning_effort: 'medium',
    messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(b.choices[0].message.reasoning_content, 'Let me think.');
  const [ra, rb] = seen('xai', from);
  assert.equal(ra.reply, 200);
  assert.ok(!['reasoning_effort', 'stop', 'presence_penalty', 'frequency_penalty'].some((k) => k in ra.body));
  assert.equal(rb.reply, 200);
  assert.equal(rb.body.reasoning_effort, 'high');
});

test('openrouter: usage:{include:true} is asked, openrouter_provider is sent as provider; the client is billed at the gateway price', async () => {
  const from = fake.requests.length;
  const res = await client.chat.completions.create({ model: 'openrouter-m', messages: [{ role: 'user', content: 'hi' }] });
  const [r] = seen('openrouter', from);
  assert.deepEqual(r.body.usage, { include: true });
  // 11 prompt tokens at 1 USD/Mtok + 7 completion tokens at 2 USD/Mtok (pricing of openrouter-m)
  assert.equal(res.usage.cost, 0.000025);
  // a client's own usage object is left as sent
  const from2 = fake.requests.length;
  await client.chat.completions.create({ model: 'openrouter-m', usage: { include: false }, messages: [{ role: 'user', content: 'hi' }] });
  assert.deepEqual(seen('openrouter', from2)[0].body.usage, { include: false });
  // OpenRouter's provider routing: the operator's object; a client's `provider` is the gateway's own
  const from3 = fake.requests.length;
  await client.chat.completions.create({ model: 'openrouter-m', provider: { sort: 'price' }, messages: [{ role: 'user', content: 'hi' }] });
  for (const rec of seen('openrouter', from)) {
    assert.deepEqual(rec.body.provider, { order: ['anthropic', 'amazon-bedrock'], allow_fallbacks: false });
    assert.equal(rec.raw.match(/"provider"/g).length, 1);
  }
  assert.equal(seen('openrouter', from3).length, 1);
});

test('money: with max_tokens and max_completion_tokens both sent, the smaller one reaches a max_tokens-only service', async () => {
  const from = fake.requests.length;
  await client.chat.completions.create({ model: 'together-m', max_tokens: 500, max_completion_tokens: 20,
    messages: [{ role: 'user', content: 'hi' }] });
  const [r] = seen('together', from);
  assert.equal(r.body.max_tokens, 20);
  assert.ok(!('max_completion_tokens' in r.body));
});

test('streams relayed byte by byte: DeepSeek reasoning deltas and Mistral usage-on-the-last-chunk arrive whole', async () => {
  let reasoning = '', text = '', usage = null;
  for await (const c of await client.chat.completions.create({ model: 'slow-deepseek-m', stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })) {
    reasoning += c.choices[0]?.delta?.reasoning_content || '';
    text += c.choices[0]?.delta?.content || '';
    if (c.usage) usage = c.usage;
  }
  assert.equal(reasoning, 'Let me think.');
  assert.equal(text, 'hello from deepseek');
  assert.equal(usage?.total_tokens, 18);
  text = '';
  usage = null;
  for await (const c of await client.chat.completions.create({ model: 'slow-mistral-m', stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] })) {
    text += c.choices[0]?.delta?.content || '';
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, 'hello from mistral');
  assert.equal(usage?.prompt_tokens, 11);
  assert.ok(slow.requests.every((r) => r.reply === 200));
});

// One stream, read back as the client sees it: content, reasoning, tool-call
// arguments and the usage chunk.
async function readStream(model, extra = {}) {
  const out = { text: '', reasoning: '', args: '', usage: null, finish: null };
  for await (const c of await client.chat.completions.create({ model, stream: true,
    stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }], ...extra })) {
    const d = c.choices[0]?.delta;
    out.text += d?.content || '';
    out.reasoning += d?.reasoning_content || '';
    out.args += d?.tool_calls?.[0]?.function?.arguments || '';
    if (c.choices[0]?.finish_reason) out.finish = c.choices[0].finish_reason;
    if (c.usage) out.usage = { prompt: c.usage.prompt_tokens, completion: c.usage.completion_tokens };
  }
  return out;
}

test('streams that differ (DeepSeek reasoning, Mistral usage on the last chunk, Groq x_groq, a tool call) replayed split at every byte offset', async () => {
  const cases = [
    ['deepseek', 'split-deepseek-m', {}, { text: 'hello from deepseek', reasoning: 'Let me think.', args: '', finish: 'stop' }],
    ['mistral', 'split-mistral-m', {}, { text: 'hello from mistral', reasoning: '', args: '', finish: 'stop' }],
    ['groq', 'split-groq-m', { tools: TOOLS }, { text: '', reasoning: '', args: '{"city":"Paris"}', finish: 'tool_calls' }],
  ];
  for (const [preset, model, extra, want] of cases) {
    let offsets = 0;
    for (;;) {
      const got = await readStream(model, extra);
      assert.deepEqual(got, { ...want, usage: { prompt: 11, completion: 7 } }, `${preset} split at ${offsets + 1}`);
      offsets++;
      const rec = split.requests.filter((r) => r.preset === preset).at(-1);
      assert.equal(rec.reply, 200);
      if (rec.splitAt >= rec.streamLength - 1) break;
    }
    assert.ok(offsets > 500, `${preset}: ${offsets} offsets`);
  }
});
