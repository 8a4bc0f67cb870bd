// claude_code.test.mjs — what Claude Code needs from /v1/messages, offline.
//
// Part A: the official `@anthropic-ai/sdk` runs a Claude-Code-like session
//   (system with cache_control, a mid-conversation system message, adaptive
//   thinking, context_management, output_config, top_k, tools, several turns
//   of tool use with thinking, count_tokens, an anthropic-beta list) through
//   the gateway to a recording Anthropic-format fake (anthropic_fake.mjs).
//   The fake must receive the client's bytes with only `model` rewritten and
//   the client must get the fake's bytes back, thinking signatures intact.
// Part B: the same shapes against the built-in mock (an OpenAI-format
//   upstream): translated, with role "system" folded, message_start's real
//   input_tokens, count_tokens estimated (and marked), HEAD /, /v1/models in
//   Anthropic's shape, prefix aliases, and refused requests logged with the
//   model and stream flag asked for.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway, defaultConfig, TEST_KEY } from './harness.mjs';
import { startAnthropicFake, message } from './anthropic_fake.mjs';

const UPSTREAM_KEY = 'sk-ant-upstream-secret-0042';
const ADMIN = 'admin-secret-key-claude-code';
const UPSTREAM_MODEL = 'claude-sonnet-4-5-20250929';
const SIG1 = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/sig/1==';
const SIG2 = 'ErUBCkYIBxgCIkB8+SecondSignature/with+slashes/and=padding==';

let fake, gw, sent = [], got = [];

// A fetch that keeps the exact bytes the SDK sent and received.
function recordingFetch(req, init) {
  sent.push({ url: String(req), body: init && init.body, headers: new Headers(init && init.headers) });
  return fetch(req, init).then(async (res) => {
    const bytes = await res.clone().text();
    got.push({ status: res.status, headers: res.headers, bytes });
    return res;
  });
}

before(async () => {
  fake = await startAnthropicFake((rec, body) => {
    const last = body.messages[body.messages.length - 1];
    if (last.content === 'overload') return { status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } };
    const toolResults = Array.isArray(last.content) ? last.content.filter((b) => b.type === 'tool_result') : [];
    if (toolResults.length === 0)
      return message(body.model, [
        { type: 'thinking', thinking: 'I should list the files first.', signature: SIG1 },
        { type: 'tool_use', id: 'toolu_01A', name: 'Bash', input: { command: 'ls', description: 'list files' } },
      ], { stop_reason: 'tool_use' });
    if (toolResults.length === 1 && toolResults[0].tool_use_id === 'toolu_01A')
      return message(body.model, [
        { type: 'thinking', thinking: 'Now read the README.', signature: SIG2 },
        { type: 'tool_use', id: 'toolu_01B', name: 'Read', input: { file_path: '/repo/README.md' } },
      ], { stop_reason: 'tool_use' });
    return message(body.model, [{ type: 'text', text: 'The repository is a C gateway.' }]);
  });
  gw = await startGateway({
    config: (port, dir) => defaultConfig(port, `
  - name: cc-sonnet
    aliases: ["claude-sonnet-*"]
    provider: anthropic-fake
    model: ${UPSTREAM_MODEL}
    pricing: { input: 3.00, output: 15.00, cached_input: 0.30 } # cache writes: the default 1.25 x input
    context_window: 200000
    capabilities: [chat, tools, stream, vision]
  - name: cc-mock
    aliases: ["claude-haiku-*"]
    provider: mock
    model: mock-gpt-1
    pricing: { input: 1.00, output: 5.00 }
    context_window: 200000
    capabilities: [chat, tools, stream]
`, dir).replace('auth:\n', `auth:\n  admin_key: ${ADMIN}\n`).replace('providers:\n', `providers:\n  - name: anthropic-fake\n    kind: anthropic\n    base_url: http://127.0.0.1:${fake.port}/v1\n    api_key: ${UPSTREAM_KEY}\n`),
  });
});

after(async () => {
  if (gw) await gw.stop();
  if (fake) await fake.close();
});

const client = () => new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0, fetch: recordingFetch });
const BETAS = 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05';

const TOOLS = [
  { name: 'Bash', description: 'Run a shell command', input_schema: { type: 'object', properties: { command: { type: 'string' }, description: { type: 'string' } }, required: ['command'] } },
  { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] }, cache_control: { type: 'ephemeral' } },
];

function turnParams(messages) {
  return {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 32000,
    system: [
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." },
      { type: 'text', text: 'Be brief. Ünïcödé ✓', cache_control: { type: 'ephemeral', ttl: '1h' } },
    ],
    messages,
    tools: TOOLS,
    tool_choice: { type: 'auto' },
    thinking: { type: 'adaptive', display: 'omitted' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    output_config: { effort: 'high' },
    top_k: 40,
    metadata: { user_id: 'user_abc_account__session_123' },
    stream: true,
  };
}

// What the fake must have received: the SDK's bytes, `model` rewritten.
function assertRelayed(i, rec) {
  const mine = sent[i].body;
  assert.equal(rec.raw, mine.replace('"model":"claude-sonnet-4-5-20250929"', `"model":"${UPSTREAM_MODEL}"`));
  assert.equal(rec.headers['x-api-key'], UPSTREAM_KEY, 'the provider key, not the client\'s');
  assert.equal(rec.headers['anthropic-beta'], sent[i].headers.get('anthropic-beta'));
  assert.equal(rec.headers['anthropic-version'], sent[i].headers.get('anthropic-version'));
  assert.ok(!JSON.stringify(rec.headers).includes(TEST_KEY), 'the client key never reaches the upstream');
}

test('A: a multi-turn tool-use session with thinking relays byte for byte both ways', async () => {
  sent = []; got = [];
  const c = client();
  const history = [
    { role: 'user', content: [{ type: 'text', text: 'What is in this repo?', cache_control: { type: 'ephemeral' } }] },
    { role: 'system', content: 'The user is in /repo.' }, // Claude Code's mid-conversation system message
  ];
  for (let turn = 0; turn < 3; turn++) {
    const stream = c.messages.stream(turnParams(history), { headers: { 'anthropic-beta': BETAS } });
    const final = await stream.finalMessage();
    const rec = fake.requests[fake.requests.length - 1];
    assertRelayed(sent.length - 1, rec);
    assert.equal(got[got.length - 1].bytes, rec.reply, `turn ${turn}: the client got the fake's stream unchanged`);
    if (turn < 2) {
      const thinking = final.content.find((b) => b.type === 'thinking');
      assert.equal(thinking.signature, turn === 0 ? SIG1 : SIG2);
      const use = final.content.find((b) => b.type === 'tool_use');
      history.push({ role: 'assistant', content: final.content });
      history.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: `output of ${use.name}` }] });
    } else {
      assert.equal(final.content[0].text, 'The repository is a C gateway.');
      assert.equal(final.usage.cache_read_input_tokens, 8000);
    }
  }
  // the signatures went back upstream untouched (inside the byte-equal bodies)
  assert.ok(fake.requests[1].raw.includes(SIG1));
  assert.ok(fake.requests[2].raw.includes(SIG1) && fake.requests[2].raw.includes(SIG2));
  assert.ok(fake.requests[0].raw.includes('"role":"system"'), 'the mid-conversation system message reaches Anthropic');
  assert.match(fake.requests[0].url, /^\/v1\/messages$/);
});

test('A: a non-streamed reply comes back as the fake sent it, with its cost (cache writes and reads priced)', async () => {
  // a virtual key (the ledger row is readable by its key at /v1/generation)
  const made = await (await fetch(`${gw.base}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cc' }) })).json();
  const vkey = made.key || made.data?.key;
  assert.ok(vkey, JSON.stringify(made));
  sent = []; got = [];
  const c = new Anthropic({ baseURL: gw.base, apiKey: vkey, maxRetries: 0, fetch: recordingFetch });
  const params = { ...turnParams([{ role: 'user', content: 'hi' }]), max_tokens: 1024, stream: false };
  const msg = await c.messages.create(params, { headers: { 'anthropic-beta': BETAS } });
  const rec = fake.requests[fake.requests.length - 1];
  assertRelayed(0, rec);
  assert.equal(got[0].bytes, rec.reply);
  assert.equal(msg.content[0].type, 'thinking');
  // 120 input * $3 + 2000 cache writes * $3.75 + 8000 cache reads * $0.30 + 40 output * $15, per 1M
  const want = (120 * 3 + 2000 * 3.75 + 8000 * 0.3 + 40 * 15) / 1e6;
  assert.equal(Number(got[0].headers.get('x-gaterouter-cost')), want);
  // the ledger keeps the cache reads and writes apart (written asynchronously: poll)
  const id = got[0].headers.get('x-request-id');
  let gen = null;
  for (let i = 0; i < 50 && !gen; i++) {
    const r = await fetch(`${gw.base}/v1/generation?id=${id}`, { headers: { authorization: `Bearer ${vkey}` } });
    if (r.status === 200) gen = (await r.json()).data;
    else await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(gen, 'the ledger row appeared');
  assert.equal(gen.tokens_prompt, 120 + 2000 + 8000);
  assert.equal(gen.tokens_cached, 8000);
  assert.equal(gen.tokens_cache_write, 2000);
});

test('A: count_tokens is forwarded to an Anthropic upstream', async () => {
  sent = []; got = [];
  const n = await client().messages.countTokens({ model: 'claude-sonnet-4-5', system: 'sys', messages: [{ role: 'user', content: 'count me' }], tools: TOOLS }, { headers: { 'anthropic-beta': BETAS } });
  assert.equal(n.input_tokens, 4321);
  const rec = fake.requests[fake.requests.length - 1];
  assert.match(rec.url, /^\/v1\/messages\/count_tokens$/);
  assert.equal(rec.raw, sent[0].body.replace('"model":"claude-sonnet-4-5"', `"model":"${UPSTREAM_MODEL}"`));
  assert.equal(got[0].headers.get('x-gaterouter-token-count'), null);
});

test('A: an upstream error comes back in Anthropic\'s shape, with its type and message', async () => {
  const c = new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0 });
  await assert.rejects(
    c.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'overload' }] }),
    (e) => {
      assert.equal(e.status, 529);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'overloaded_error');
      assert.match(e.error.error.message, /Overloaded/);
      return true;
    },
  );
});

// ---- Part B: translated (the built-in OpenAI-format mock) ----

test('B: role "system" inside messages is folded for a non-Anthropic upstream; message_start reports input tokens', async () => {
  const c = new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0 });
  const events = [];
  const stream = c.messages.stream({
    model: 'claude-haiku-4-5-20251001', max_tokens: 64000,
    system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: 'say hi please' }, { role: 'system', content: 'Reminder: be kind.' }],
    thinking: { type: 'adaptive' }, context_management: { edits: [] }, output_config: { effort: 'low' },
  });
  for await (const ev of stream) events.push(ev);
  const start = events.find((e) => e.type === 'message_start');
  assert.ok(start.message.usage.input_tokens > 0, 'message_start carries the input token count');
  assert.equal(start.message.model, 'claude-haiku-4-5-20251001');
  const final = await stream.finalMessage();
  assert.match(final.content.find((b) => b.type === 'text').text, /say hi please/);
});

test('B: a prompt plus max_tokens beyond the context window is refused in Anthropic\'s words', async () => {
  const res = await fetch(`${gw.base}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 200000, messages: [{ role: 'user', content: 'a prompt of a few tokens' }] }),
  });
  assert.equal(res.status, 400);
  const j = await res.json();
  assert.equal(j.error.type, 'invalid_request_error');
  const m = j.error.message.match(/^input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+), decrease input length or `max_tokens` and try again$/);
  assert.ok(m, j.error.message);
  assert.equal(Number(m[2]), 200000);
  assert.equal(Number(m[3]), 200000);
  assert.ok(Number(m[1]) + Number(m[2]) > Number(m[3]));
});

test('B: count_tokens for a non-Anthropic model is the gateway\'s estimate, marked as such', async () => {
  const res = await fetch(`${gw.base}/v1/messages/count_tokens?beta=true`, {
    method: 'POST', headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'a fairly long sentence to count the tokens of' }] }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-gaterouter-token-count'), 'estimated');
  const j = await res.json();
  assert.ok(Number.isInteger(j.input_tokens) && j.input_tokens > 0);
});

test('B: HEAD / answers 200; GET /v1/models speaks Anthropic when asked in Anthropic', async () => {
  const head = await fetch(`${gw.base}/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  const page = await new Anthropic({ baseURL: gw.base, apiKey: TEST_KEY, maxRetries: 0 }).models.list();
  const ids = page.data.map((m) => m.id);
  assert.ok(ids.includes('cc-sonnet') && ids.includes('mock-gpt'));
  assert.ok(!ids.some((id) => id.endsWith('*')), 'patterns are not model ids');
  assert.equal(page.data[0].type, 'model');
  assert.match(page.data[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const oai = await (await fetch(`${gw.base}/v1/models`, { headers: { authorization: `Bearer ${TEST_KEY}` } })).json();
  assert.equal(oai.object, 'list');
});

test('B: a refused request is logged with the model and stream flag it asked for', async () => {
  const res = await fetch(`${gw.base}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': 'sk-wrong-key', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-opus-9-refused', stream: true, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(res.status, 401);
  const j = await res.json();
  assert.equal(j.type, 'error');
  assert.equal(j.error.type, 'authentication_error');
  await new Promise((r) => setTimeout(r, 200));
  const line = gw.logs().split('\n').find((l) => l.includes('claude-opus-9-refused'));
  assert.ok(line, 'an access-log line names the model');
  const rec = JSON.parse(line);
  assert.equal(rec.status, 401);
  assert.equal(rec.stream, true);
});
