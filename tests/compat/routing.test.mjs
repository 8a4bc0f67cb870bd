// routing.test.mjs — routing on the live request path: fallbacks across
// models and deployments, the circuit breaker, 429 cooldowns, the dry-run
// /v1/route endpoint and model "auto", seen through the official SDK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, freePort, TEST_KEY } from './harness.mjs';

const FRUGAL_KEY = 'gr-frugalkeyfrugalkeyfrugalkey01';
let gw, client, deadPort;
before(async () => {
  deadPort = await freePort(); // nothing listens here: connection refused
  gw = await startGateway({
    config: (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "-", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
keys:
  - { name: frugal, key: ${FRUGAL_KEY}, metadata: { auto_value_usd: 0 } }
routing:
  health: { consecutive_failures: 3, cooldown_ms: 60000, rate_limit_cooldown_ms: 3000 }
  auto: { models: [cheap, mid, strong], cost_controller: { gain: 0.5, window: 4 } }
providers:
  - { name: mock, kind: mock }
  - name: dead
    kind: openai
    base_url: http://127.0.0.1:${deadPort}/v1
    timeouts: { connect_ms: 500, first_byte_ms: 2000 }
models:
  - { name: primary, provider: dead, model: primary-1, fallbacks: [backup], pricing: { input: 1, output: 2 } }
  - { name: backup, provider: mock, model: backup-1, pricing: { input: 1, output: 2 } }
  - name: pair
    deployments:
      - { provider: dead, model: pair-dead, weight: 1 }
      - { provider: mock, model: pair-live, weight: 1 }
  - { name: doomed, provider: dead, model: doomed-1 }
  - { name: limited, provider: mock, model: limited-1 }
  - { name: cheap, provider: mock, model: cheap-1, quality: 30, pricing: { input: 0.1, output: 0.4 }, context_window: 16000 }
  - { name: strong, provider: mock, model: strong-1, quality: 90, pricing: { input: 3, output: 15 }, capabilities: [chat, tools, vision, json, stream] }
  - { name: mid, provider: mock, model: mid-1, quality: 60, pricing: { input: 0.5, output: 1.5 }, context_window: 200000 }
`,
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
});
after(async () => { await gw.stop(); });

const ask = (model, content = 'hello', extra = {}, opts = {}) =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content }], ...extra }, opts).withResponse();

test('primary down -> the configured fallback model serves; headers say so', async () => {
  const { data, response } = await ask('primary');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.equal(response.headers.get('x-gaterouter-model'), 'backup');
  assert.equal(response.headers.get('x-gaterouter-provider'), 'mock');
  assert.ok(Number(response.headers.get('x-gaterouter-attempts')) >= 2);
  assert.match(response.headers.get('x-gaterouter-route'), /dead\/primary-1/);
});

test('streaming falls back too (before any byte reached the client)', async () => {
  const s = await client.chat.completions.create({ model: 'primary', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
  assert.match(text, /mock model backup-1/);
});

test('one dead deployment of two: every request succeeds; the breaker then skips it', async () => {
  // The pick is weighted-random (1:1), so how many requests it takes to hit
  // the dead deployment consecutive_failures (3) times varies: 8 fixed
  // requests left the breaker closed ~1 run in 30. Count the failed attempts
  // instead (a wasted attempt shows as x-gaterouter-attempts), bounded.
  let failed = 0;
  for (let i = 0; i < 60 && failed < 3; i++) {
    const { response } = await ask('pair');
    assert.equal(response.headers.get('x-gaterouter-upstream-model'), 'pair-live');
    failed += Number(response.headers.get('x-gaterouter-attempts') || 1) - 1;
  }
  assert.ok(failed >= 3, `the dead deployment failed ${failed} times in 60 requests`);
  const { response } = await ask('pair');
  assert.equal(response.headers.get('x-gaterouter-attempts'), null, 'open breaker: no wasted attempt');
});

test('all deployments down -> 502 first, then 503 with a clear message once the breaker opens', async () => {
  const first = await ask('doomed').catch((e) => e);
  assert.ok(first instanceof OpenAI.APIError && first.status === 502, String(first));
  let last;
  for (let i = 0; i < 4; i++) last = await ask('doomed').catch((e) => e);
  assert.equal(last.status, 503);
  assert.match(last.message, /unavailable/);
});

test('a provider 429 is retried, then passed on; the cooldown answers 429 with Retry-After', async () => {
  const e1 = await ask('limited', '[[mock:status=429]]').catch((e) => e);
  assert.ok(e1 instanceof OpenAI.RateLimitError, String(e1));
  const e2 = await ask('limited', 'fine now').catch((e) => e);
  assert.ok(e2 instanceof OpenAI.RateLimitError, String(e2));
  assert.ok(Number(e2.headers.get('retry-after')) >= 1);
  assert.equal(e2.code, 'upstream_rate_limited');
});

test('POST /v1/route explains without calling upstream', async () => {
  const stats = async () => (await fetch(`http://127.0.0.1:${gw.mockPort}/mock/stats`)).json();
  const before = await stats();
  const r = await fetch(`${gw.baseURL}/route`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'Write a Rust function that merges k sorted lists in O(n log k), with tests.' }] }) });
  assert.equal(r.status, 200);
  const plan = await r.json();
  assert.ok(JSON.stringify(plan).includes('auto'), JSON.stringify(plan));
  const after = await stats();
  assert.equal(after.requests, before.requests + 1, 'dry run made no upstream call (only the stats call itself)');
});

test('auto explains with numbers: per model predicted quality, expected cost and bar; price and value_usd decide', async () => {
  const route = async (content, headers = {}) => {
    const r = await fetch(`${gw.baseURL}/route`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }) });
    assert.equal(r.status, 200);
    return r.json();
  };
  const plan = await route('Implement a lock-free queue in C11 and explain the memory ordering of every operation.');
  const ms = plan.auto.models;
  assert.equal(ms.length, 3, JSON.stringify(plan.auto));
  for (const m of ms) {
    assert.ok(m.predicted_quality > 0 && m.predicted_quality < 1, JSON.stringify(m));
    assert.ok(m.expected_cost_usd > 0, JSON.stringify(m));
    assert.equal(typeof m.quality_bar, 'number');
  }
  const by = Object.fromEntries(ms.map((m) => [m.model, m]));
  assert.ok(by.strong.expected_cost_usd > 10 * by.cheap.expected_cost_usd, 'expected cost follows the price');
  const chosen = ms.filter((m) => m.chosen);
  assert.equal(chosen.length, 1);
  assert.equal(chosen[0].model, plan.candidates[0].model);
  assert.ok(plan.auto.value_usd_per_good_answer > 0);
  assert.match(plan.reason, /value=\$[0-9.e-]+ skill=\w+ task=\w+ est=\w+:0\.\d+\/\$/);
  // the money knob decides: worth nothing -> cheapest; worth a lot -> the best
  assert.equal((await route('Prove Fermat\'s last theorem for n = 3.', { 'x-gaterouter-value-usd': '0' })).candidates[0].model, 'cheap');
  assert.equal((await route('Prove Fermat\'s last theorem for n = 3.', { 'x-gaterouter-value-usd': '1000' })).candidates[0].model, 'strong');
});

test('a key sets its default value for plain auto (metadata auto_value_usd); named policies and the request header still win', async () => {
  const frugal = new OpenAI({ baseURL: gw.baseURL, apiKey: FRUGAL_KEY, maxRetries: 0 });
  const hardText = 'Prove that every bounded monotone sequence of reals converges, rigorously, then derive the rate for a_n = 1 - 1/n^2.';
  const ask2 = (model, headers = {}) => frugal.chat.completions.create({ model, messages: [{ role: 'user', content: hardText }] }, { headers }).withResponse();
  const plain = await ask2('auto');
  assert.equal(plain.response.headers.get('x-gaterouter-model'), 'cheap', plain.response.headers.get('x-gaterouter-route'));
  assert.match(plain.response.headers.get('x-gaterouter-route'), /policy=auto\(key \$0\)/);
  assert.equal((await ask2('auto:best')).response.headers.get('x-gaterouter-model'), 'strong');
  assert.equal((await ask2('auto', { 'x-gaterouter-value-usd': 'inf' })).response.headers.get('x-gaterouter-model'), 'strong');
});

test('model "auto": trivial chat is predicted easier than hard work; auto:best sends hard work to the strong model', async () => {
  const dry = async (content) => (await (await fetch(`${gw.baseURL}/route`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }) })).json()).auto;
  const hardText = 'Prove that there are infinitely many primes p such that p ≡ 3 (mod 4), then implement a sieve in C that counts them below 10^9 efficiently.';
  assert.ok((await dry('hi there, how are you?')).difficulty < (await dry(hardText)).difficulty);
  const easy = await ask('auto', 'hi there, how are you?');
  assert.match(easy.response.headers.get('x-gaterouter-route'), /auto/);
  const hard = await ask('auto:best', hardText);
  assert.equal(hard.response.headers.get('x-gaterouter-model'), 'strong');
});

test('model "auto": small talk and formatting asks are instruction following, not math (/v1/route skill and the route header)', async () => {
  for (const content of ['hi how are you', 'thanks a lot, bye!', 'Please make this a bulleted list: milk, eggs, flour']) {
    const r = await fetch(`${gw.baseURL}/route`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content }] }) });
    assert.equal(r.status, 200);
    const plan = await r.json();
    assert.equal(plan.auto.skill, 'instruction', `${content}: ${JSON.stringify(plan.auto)}`);
    assert.match(plan.reason, /skill=instruction /, plan.reason);
  }
});

test('auto respects capabilities: an image goes only to a vision model', async () => {
  const { response } = await client.chat.completions.create({ model: 'auto:cheap', messages: [{ role: 'user', content: [
    { type: 'text', text: 'what is in this picture?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }] }).withResponse();
  assert.equal(response.headers.get('x-gaterouter-model'), 'strong');
});

test('OpenRouter-style models list: the next model serves when the first is down', async () => {
  const { response } = await ask('doomed', 'x', { models: ['doomed', 'backup'] });
  assert.equal(response.headers.get('x-gaterouter-model'), 'backup');
});

test('route decisions are counted in /metrics', async () => {
  const text = await (await fetch(`${gw.base}/metrics`)).text();
  assert.match(text, /gaterouter_route_decisions_total\{policy="auto[^"]*",model="cheap"\} [1-9]/);
});

test('a cost target (model "auto:$X") is held by the controller from what requests cost; a malformed one is a 400', async () => {
  const hard = 'Prove that every bounded monotone sequence of reals converges, rigorously, then derive the rate for a_n = 1 - 1/n^2.';
  const served = async (model) => {
    const { response } = await ask(model, hard);
    return [response.headers.get('x-gaterouter-model'), response.headers.get('x-gaterouter-route')];
  };
  // far below what any model costs for this prompt: the value falls until the cheapest serves
  let last;
  for (let i = 0; i < 40; i++) last = await served('auto:$0.0001');
  assert.equal(last[0], 'cheap', last[1]);
  assert.match(last[1], /policy=auto:\$0\.0001\/1k value=\$/);
  // far above always-the-strongest: the value rises until the strongest serves
  for (let i = 0; i < 40; i++) last = await served('auto:$500');
  assert.equal(last[0], 'strong', last[1]);
  // a dry run shows the target's policy
  const r = await fetch(`${gw.baseURL}/route`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto:$500', messages: [{ role: 'user', content: hard }] }) });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).policy, 'auto:$500/1k');
  for (const bad of ['auto:$-1', 'auto:$1e3', 'auto:$abc']) {
    const e = await ask(bad, hard).catch((x) => x);
    assert.ok(e instanceof OpenAI.BadRequestError, `${bad}: ${e}`);
    assert.match(e.message, /cost target is auto:\$<USD per 1,000 requests>/);
  }
});
