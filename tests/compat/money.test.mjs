// money.test.mjs — what a request can cost is reserved before it runs.
// Against a recording Anthropic-format upstream (anthropic_fake.mjs) that
// reports the worst usage the request allows: every prompt token written to
// the prompt cache the request asks for (5-minute: 1.25 x input; 1-hour:
// 2 x input) and every output token the adapter allows (max_tokens plus the
// thinking budget it adds for reasoning_effort). A key whose budget covers the
// old hold (prompt at the input price, max_tokens only) but not that charge is
// refused up front and the upstream is never called; the x402 quote for the
// same request is at least the charge. Also: the provider's configured
// headers reach the upstream once on the adapter path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startGateway, repoRoot } from './harness.mjs';
import { paidConfig } from './paid_config.mjs';
import { startAnthropicFake, message } from './anthropic_fake.mjs';

const RICH = 'gr-money-rich-key-0000000000000001';
const TIGHT_5M = 'gr-money-tight-5m-000000000000001';
const TIGHT_1H = 'gr-money-tight-1h-000000000000001';
const TIGHT_THINK = 'gr-money-tight-think-0000000000001';
const TIGHT_NATIVE = 'gr-money-tight-native-000000000001';

// $1 per Mtok in and out: one token is one micro-USD.
const PROMPT_TOKENS = 10000; // the fake says all of them were written to the cache
const BIG = 'a'.repeat(4 * PROMPT_TOKENS); // the gateway estimates ~10000 tokens for it

let fake, gw;
before(async () => {
  fake = await startAnthropicFake((rec, body) => {
    if (rec.raw.includes('READ THE CACHE')) { // a cache hit: 8000 prompt tokens read from the cache
      return message(body.model, [{ type: 'text', text: 'ok' }], { usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 8000, output_tokens: 20 } });
    }
    const ttl1h = rec.raw.includes('"ttl":"1h"');
    const cached = rec.raw.includes('cache_control');
    const usage = {
      input_tokens: cached ? 0 : 10,
      cache_creation_input_tokens: cached ? PROMPT_TOKENS : 0,
      cache_read_input_tokens: 0,
      output_tokens: body.max_tokens, // the worst case: every token it was allowed
    };
    if (cached) usage.cache_creation = { ephemeral_5m_input_tokens: ttl1h ? 0 : PROMPT_TOKENS, ephemeral_1h_input_tokens: ttl1h ? PROMPT_TOKENS : 0 };
    return message(body.model, [{ type: 'text', text: 'ok' }], { usage });
  });
  gw = await startGateway({
    config: (port, dir) => paidConfig(port, dir, { rich: [RICH, 10], 'tight-5m': [TIGHT_5M, 0.0115], 'tight-1h': [TIGHT_1H, 0.015],
      'tight-think': [TIGHT_THINK, 0.02], 'tight-native': [TIGHT_NATIVE, 0.015] }, `
providers:
  - name: anth
    kind: anthropic
    base_url: http://127.0.0.1:${fake.port}/v1
    api_key: sk-ant-fake
    headers: { x-team: money }
models:
  - { name: claude-money, provider: anth, model: claude-money-1, pricing: { input: 1, output: 1 }, capabilities: [chat, tools, stream] }
  - { name: claude-priced, provider: anth, model: claude-priced-1, pricing: { input: 1, output: 1, cached_input: 0.5 }, capabilities: [chat, tools, stream] }
`),
  });
});
after(async () => { await gw?.stop(); await fake?.close(); });

async function post(path, body, key) {
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const r = await fetch(`${gw.base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* kept as text */ }
  return { status: r.status, headers: r.headers, text, json };
}

const system = (cache_control) => [{ type: 'text', text: BIG, cache_control }];
const chat5m = { model: 'claude-money', max_tokens: 100, messages: [{ role: 'system', content: system({ type: 'ephemeral' }) }, { role: 'user', content: 'hi' }] };
const chat1h = { model: 'claude-money', max_tokens: 100, messages: [{ role: 'system', content: system({ type: 'ephemeral', ttl: '1h' }) }, { role: 'user', content: 'hi' }] };
const chatThink = { model: 'claude-money', max_tokens: 100, reasoning_effort: 'high', messages: [{ role: 'user', content: 'think hard' }] };
const native1h = { model: 'claude-money', max_tokens: 100, system: system({ type: 'ephemeral', ttl: '1h' }), messages: [{ role: 'user', content: 'hi' }] };

// The charge the fake's worst-case usage must come to (USD), checked with an ample key.
const cases = [
  ['chat, 5-minute cache write', '/v1/chat/completions', chat5m, TIGHT_5M, (PROMPT_TOKENS * 1.25 + 100) / 1e6],
  ['chat, 1-hour cache write', '/v1/chat/completions', chat1h, TIGHT_1H, (PROMPT_TOKENS * 2 + 100) / 1e6],
  ['chat, reasoning_effort high', '/v1/chat/completions', chatThink, TIGHT_THINK, null],
  ['/v1/messages relayed, 1-hour cache write', '/v1/messages', native1h, TIGHT_NATIVE, (PROMPT_TOKENS * 2 + 100) / 1e6],
];

const costOf = (r) => Number(r.headers.get('x-gaterouter-cost'));

for (const [name, path, body, tightKey, want] of cases) {
  test(`${name}: charged at its real price; a budget short of it refuses up front; the x402 quote covers it`, async () => {
    const served = await post(path, body, RICH);
    assert.equal(served.status, 200, served.text);
    const cost = costOf(served);
    if (want !== null) assert.ok(Math.abs(cost - want) < 1e-9, `${name}: cost ${cost}, want ${want}`);
    else assert.ok(cost > 24576 / 1e6, `${name}: the thinking budget is billed (cost ${cost})`);

    const calls = fake.requests.length;
    const refused = await post(path, body, tightKey);
    assert.equal(refused.status, 402, `${name}: a budget below the worst case must be refused, got ${refused.status} ${refused.text}`);
    if (path === '/v1/messages') assert.equal(refused.json?.type, 'error', refused.text);
    else assert.equal(refused.json?.error?.code, 'budget_exceeded', refused.text);
    assert.equal(fake.requests.length, calls, 'the upstream was never called');
    const me = await (await fetch(`${gw.baseURL}/key`, { headers: { authorization: `Bearer ${tightKey}` } })).json();
    assert.ok(!(me.spent_usd > 0) && !(me.data?.spent_usd > 0), `nothing spent: ${JSON.stringify(me)}`);

    const quote = await post(path, body, null);
    assert.equal(quote.status, 402, quote.text);
    const atomic = Number(quote.json.accepts[0].maxAmountRequired); // USDC: 6 decimals
    assert.ok(atomic / 1e6 >= cost, `${name}: x402 quote ${atomic / 1e6} USD below the charge ${cost} USD`);
    const said = quote.json.accepts[0].description;
    if (/cache/.test(name)) assert.match(said, /the prompt-cache write price: the request sets cache_control/);
    else assert.match(said, /24676 max output tokens \(24576 of them thinking budget\)/);
  });
}

test('the thinking budget the adapter adds is what the upstream was allowed', async () => {
  const r = await post('/v1/chat/completions', chatThink, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = JSON.parse(fake.requests.at(-1).raw);
  assert.equal(sent.thinking.budget_tokens, 24576);
  assert.equal(sent.max_tokens, 24576 + 100);
  assert.ok(Math.abs(r.json.usage.cost - (sent.max_tokens + r.json.usage.prompt_tokens) / 1e6) < 1e-9, JSON.stringify(r.json.usage));
});

test('provider headers reach the upstream once, on the adapter path and on the relay', async () => {
  for (const [path, body] of [['/v1/chat/completions', { model: 'claude-money', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }],
    ['/v1/messages', { model: 'claude-money', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }]]) {
    const r = await post(path, body, RICH);
    assert.equal(r.status, 200, r.text);
    const raw = fake.requests.at(-1).rawHeaders;
    const count = (name) => raw.filter((h, i) => i % 2 === 0 && h.toLowerCase() === name).length;
    assert.equal(count('x-team'), 1, `${path}: x-team sent ${count('x-team')} times: ${JSON.stringify(raw)}`);
    assert.equal(count('x-api-key'), 1, path);
    assert.equal(count('anthropic-version'), 1, path);
  }
});

test('cache reads without a cached_input price are billed at the provider kind\'s documented ratio (Anthropic 0.1 x); an explicit price wins; --check-config says so', async () => {
  const ask = (model) => post('/v1/chat/completions', { model, max_tokens: 20, messages: [{ role: 'user', content: 'READ THE CACHE' }] }, RICH);
  const dflt = await ask('claude-money');
  assert.equal(dflt.status, 200, dflt.text);
  assert.equal(dflt.json.usage.prompt_tokens_details.cached_tokens, 8000);
  assert.ok(Math.abs(costOf(dflt) - (10 + 8000 * 0.1 + 20) / 1e6) < 1e-9, `default ratio: cost ${costOf(dflt)}`);
  const explicit = await ask('claude-priced');
  assert.ok(Math.abs(costOf(explicit) - (10 + 8000 * 0.5 + 20) / 1e6) < 1e-9, `explicit cached_input: cost ${costOf(explicit)}`);
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const check = spawnSync(bin, ['--check-config', join(gw.dir, 'config.yaml')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /note: pricing: model 'claude-money' on provider 'anth' has no cached_input price; prompt-cache reads are billed at 0\.1 USD per 1M tokens \(Anthropic's cache-hit price, 0\.1 x input\)/);
  assert.doesNotMatch(check.stdout, /note: pricing: model 'claude-priced'/);
});

test('/v1/messages relayed to Anthropic: thinking blocks Anthropic did not sign (another upstream\'s, a carried Gemini signature) are left out; signed ones pass', async () => {
  const signed = { type: 'thinking', thinking: 'genuine', signature: 'EqQBCkgIARABGAIiQGenuineAnthropicSignature' };
  const body = { model: 'claude-money', max_tokens: 5, messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: [{ type: 'thinking', thinking: 'from an OpenAI-format upstream', signature: '' },
      { type: 'thinking', thinking: '', signature: 'gaterouter.gemini.c2ln' }, { type: 'text', text: 'hello' }] },
    { role: 'assistant', content: [signed, { type: 'text', text: 'again' }] },
    { role: 'user', content: 'and?' }] };
  const r = await post('/v1/messages', body, RICH);
  assert.equal(r.status, 200, r.text);
  const sent = JSON.parse(fake.requests.at(-1).raw);
  assert.deepEqual(sent.messages[1].content, [{ type: 'text', text: 'hello' }]);
  assert.deepEqual(sent.messages[2].content, [signed, { type: 'text', text: 'again' }]);
  // a body without such blocks is relayed byte for byte (only `model` rewritten)
  const plain = { model: 'claude-money', max_tokens: 5, messages: [{ role: 'assistant', content: [signed] }, { role: 'user', content: 'x' }] };
  await post('/v1/messages', plain, RICH);
  assert.equal(fake.requests.at(-1).raw, JSON.stringify({ ...plain, model: 'claude-money-1' }));
});

test('a streamed reply bills its 1-hour cache writes at the 1-hour price (usage from message_start)', async () => {
  const r = await fetch(`${gw.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${RICH}` },
    body: JSON.stringify({ ...chat1h, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(r.status, 200);
  const text = await r.text();
  const usage = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).find((c) => c.usage)?.usage;
  assert.ok(usage, text);
  assert.ok(Math.abs(usage.cost - (PROMPT_TOKENS * 2 + 100) / 1e6) < 1e-9, JSON.stringify(usage));
});
