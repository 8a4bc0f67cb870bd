// beta_headers.test.mjs — the /v1/messages relay to an Anthropic upstream
// (a recording fake, anthropic_fake.mjs) sends one anthropic-beta header when
// both the provider's config and the client set one: the values joined with
// commas, each beta once (issue 20). One source alone passes as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, minimalConfig, TEST_KEY } from './harness.mjs';
import { startAnthropicFake, message } from './anthropic_fake.mjs';

let fake, gw;
before(async () => {
  fake = await startAnthropicFake((rec, body) => message(body.model, [{ type: 'text', text: 'ok' }]));
  gw = await startGateway({
    config: (port, dir) => minimalConfig(port, dir, `
providers:
  - name: anth
    kind: anthropic
    base_url: http://127.0.0.1:${fake.port}/v1
    api_key: sk-ant-fake
    headers: { Anthropic-Beta: "context-1m-2025-08-07, prompt-caching-2024-07-31" }
  - { name: plain, kind: anthropic, base_url: "http://127.0.0.1:${fake.port}/v1", api_key: sk-ant-fake }
models:
  - { name: claude-beta, provider: anth, model: claude-beta-1, capabilities: [chat, tools, stream] }
  - { name: claude-plain, provider: plain, model: claude-plain-1, capabilities: [chat, tools, stream] }
`),
  });
});
after(async () => {
  const code = await gw?.stop();
  await fake?.close();
  assert.equal(code, 0, 'gateway drains and exits 0 on SIGTERM (no sanitizer report)');
});

async function relay(model, beta) {
  const headers = { 'content-type': 'application/json', 'x-api-key': TEST_KEY, 'anthropic-version': '2023-06-01' };
  if (beta) headers['anthropic-beta'] = beta;
  const r = await fetch(`${gw.base}/v1/messages`, { method: 'POST', headers,
    body: JSON.stringify({ model, max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(r.status, 200, await r.text());
  const rec = fake.requests.at(-1);
  const lines = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2)
    if (rec.rawHeaders[i].toLowerCase() === 'anthropic-beta') lines.push(rec.rawHeaders[i + 1]);
  return lines;
}

test('config and client betas reach Anthropic as one header, joined, each once', async () => {
  const lines = await relay('claude-beta', 'interleaved-thinking-2025-05-14,prompt-caching-2024-07-31');
  assert.deepEqual(lines, ['interleaved-thinking-2025-05-14,prompt-caching-2024-07-31,context-1m-2025-08-07']);
});

test('the config\'s betas alone, and the client\'s alone, pass as they were', async () => {
  assert.deepEqual(await relay('claude-beta', null), ['context-1m-2025-08-07, prompt-caching-2024-07-31']);
  assert.deepEqual(await relay('claude-plain', 'interleaved-thinking-2025-05-14'), ['interleaved-thinking-2025-05-14']);
  assert.deepEqual(await relay('claude-plain', null), []);
});
