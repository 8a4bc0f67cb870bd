// verify.test.mjs — model "auto:verify" on the live request path, through the
// official SDK: cheap answers that agree are returned (JSON and replayed as a
// stream), disagreement, a failed cheap call or a failed code check escalates
// to the strong model (streamed live), every call is metered, shown in usage
// and the route header and has its own ledger row, a key's budget must hold
// the worst case, /v1/route explains the plan, and routing.auto.verify is
// validated at load. The mock scripts each model's answer
// ([[mock:answer:<upstream model>=...]], mock_upstream.h).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startGateway, TEST_KEY, repoRoot } from './harness.mjs';

const TIGHT_KEY = 'gr-tightbudgetkeytightbudget0001';
const LEDGER_KEY = 'gr-ledgerkeyledgerkeyledgerkey01'; // a virtual key: /v1/generation serves its rows
const TPM_KEY = 'gr-tpmkeytpmkeytpmkeytpmkeytpm01';
const MODELS = `
providers:
  - { name: mock, kind: mock }
models:
  - { name: tiny, provider: mock, model: tiny-1, quality: 40, pricing: { input: 0.1, output: 0.2 } }
  - { name: small, provider: mock, model: small-1, quality: 50, pricing: { input: 0.2, output: 0.4 } }
  - { name: checker, provider: mock, model: checker-1, quality: 60, pricing: { input: 0.5, output: 1 } }
  - { name: big, provider: mock, model: big-1, quality: 95, pricing: { input: 10, output: 30 } }
`;
const ROUTING = `
routing:
  health: { consecutive_failures: 1000, rate_limit_cooldown_ms: 0 }
  auto:
    models: [tiny, small, checker, big]
    verify: { verifier: checker, timeout_ms: 10s, agree: normalised }
`;

let gw, client;
before(async () => {
  gw = await startGateway({
    config: (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "-", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
keys:
  - { name: tight, key: ${TIGHT_KEY}, budget_usd: 0.305 }
  - { name: ledger, key: ${LEDGER_KEY} }
  - { name: tpm, key: ${TPM_KEY}, tpm: 3000 }
${ROUTING}${MODELS}`,
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: LEDGER_KEY, maxRetries: 0 });
});
// A clean exit: no sanitizer report (ASan build), no leak at exit.
after(async () => {
  const code = await gw.stop();
  assert.doesNotMatch(gw.logs(), /AddressSanitizer|LeakSanitizer|runtime error:/, 'sanitizer report');
  assert.equal(code, 0, `gateway exit ${code}`);
});

const ask = (content, extra = {}, model = 'auto:verify') =>
  client.chat.completions.create({ model, messages: [{ role: 'user', content }], ...extra }).withResponse();

const usd = (v) => Number(v);
const rowUsd = (row) => row.cost_nusd / 1e9;
const near = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-9 + 1e-6 * Math.abs(b), `${what}: ${a} != ${b}`);

// The ledger is written by its own thread: poll /v1/generation.
async function generation(id) {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${gw.baseURL}/generation?id=${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${LEDGER_KEY}` } });
    if (r.status === 200) return (await r.json()).data;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no ledger row ${id}`);
}

async function streamed(content, extra = {}) {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'auto:verify', messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true }, ...extra })
    .withResponse();
  let text = '', usage = null, chunks = 0;
  for await (const ch of stream) {
    chunks++;
    if (ch.choices?.[0]?.delta?.content) text += ch.choices[0].delta.content;
    if (ch.usage) usage = ch.usage;
  }
  return { text, usage, chunks, response };
}

test('cheap answers that agree are returned: cheapest model serves, both calls billed and itemised, one ledger row per call', async () => {
  const { data, response } = await ask('Which gas do plants take in? A) O2 B) CO2 C) N2 [[mock:answer=The answer is B.]]');
  assert.equal(data.choices[0].message.content, 'The answer is B.');
  assert.equal(response.headers.get('x-gaterouter-model'), 'tiny');
  const route = response.headers.get('x-gaterouter-route');
  assert.match(route, /policy=auto:verify verify=accepted:same-choice-'B' calls=tiny:\d+\+\d+tok\/\$[0-9.e-]+\/agreed,small:\d+\+\d+tok\/\$[0-9.e-]+\/agreed/, route);
  assert.doesNotMatch(route, /fallback=/, 'an accepted cheap answer is not a fallback');
  const v = data.usage.verify;
  assert.equal(v.outcome, 'accepted');
  assert.deepEqual(v.calls.map((c) => [c.model, c.role, c.result, c.served]), [['tiny', 'cheap', 'agreed', true], ['small', 'cheap', 'agreed', false]]);
  const sum = v.calls.reduce((s, c) => s + usd(c.cost), 0);
  near(usd(data.usage.cost), sum, 'usage.cost is every call');
  near(usd(response.headers.get('x-gaterouter-cost')), sum, 'x-gaterouter-cost');
  assert.ok(usd(v.calls[1].cost) > usd(v.calls[0].cost), 'small costs more than tiny');
  const id = response.headers.get('x-gaterouter-request-id');
  const main = await generation(id), other = await generation(`${id}.v2`);
  assert.equal(main.model_served, 'tiny-1', JSON.stringify(main));
  near(rowUsd(main), usd(v.calls[0].cost), 'the request row is the served call');
  assert.equal(other.model_served, 'small-1', JSON.stringify(other));
  assert.equal(other.model, 'auto:verify');
  near(rowUsd(other), usd(v.calls[1].cost), 'the other cheap call has its own row');
  assert.match(other.route_reason, new RegExp(`cheap call of ${id}: agreed`));
});

test('answers that differ escalate to the strong model; its answer is returned and every call billed', async () => {
  const { data, response } = await ask('Pick one. [[mock:answer:tiny-1=B]] [[mock:answer:small-1=C]] [[mock:answer:big-1=D]]');
  assert.equal(data.choices[0].message.content, 'D');
  assert.equal(response.headers.get('x-gaterouter-model'), 'big');
  const route = response.headers.get('x-gaterouter-route');
  assert.match(route, /verify=escalated:answers-differ calls=tiny:.*\/answered,small:.*\/answered then=big/, route);
  const v = data.usage.verify;
  assert.equal(v.outcome, 'escalated');
  assert.deepEqual(v.calls.map((c) => [c.model, c.role, c.served]), [['tiny', 'cheap', false], ['small', 'cheap', false], ['big', 'escalation', true]]);
  const sum = v.calls.reduce((s, c) => s + usd(c.cost), 0);
  near(usd(data.usage.cost), sum, 'usage.cost');
  const id = response.headers.get('x-gaterouter-request-id');
  const main = await generation(id);
  assert.equal(main.model_served, 'big-1');
  near(rowUsd(main), usd(v.calls[2].cost), 'the request row is the escalation');
  near(rowUsd(await generation(`${id}.v1`)), usd(v.calls[0].cost), 'tiny row');
  near(rowUsd(await generation(`${id}.v2`)), usd(v.calls[1].cost), 'small row');
});

test('stream: agreed cheap answer is held, then replayed as chunks with usage', async () => {
  const { text, usage, chunks, response } = await streamed('Is the sky blue? [[mock:answer=Yes, it is.]]');
  assert.equal(text, 'Yes, it is.');
  assert.ok(chunks >= 3);
  assert.equal(response.headers.get('x-gaterouter-model'), 'tiny');
  assert.match(response.headers.get('x-gaterouter-route'), /verify=accepted:same-yes\/no-'yes'/);
  assert.equal(usage.verify.outcome, 'accepted');
  near(usd(usage.cost), usage.verify.calls.reduce((s, c) => s + usd(c.cost), 0), 'stream usage.cost');
});

test('stream: disagreement escalates and the strong model streams live; usage covers every call', async () => {
  const { text, usage, response } = await streamed('Number? [[mock:answer:tiny-1=41]] [[mock:answer:small-1=42]] [[mock:answer:big-1=The answer is 42]]');
  assert.equal(text, 'The answer is 42');
  assert.equal(response.headers.get('x-gaterouter-model'), 'big');
  assert.match(response.headers.get('x-gaterouter-route'), /verify=escalated:answers-differ/);
  assert.equal(usage.verify.outcome, 'escalated');
  assert.equal(usage.verify.calls.length, 3);
  near(usd(usage.cost), usage.verify.calls.reduce((s, c) => s + usd(c.cost), 0), 'stream usage.cost');
});

test('a cheap model failing escalates; the failed call costs nothing, the other cheap call is billed', async () => {
  const { data, response } = await ask('Pick. [[mock:status:small-1=500]] [[mock:answer=B]]');
  assert.equal(response.headers.get('x-gaterouter-model'), 'big');
  assert.match(response.headers.get('x-gaterouter-route'), /verify=escalated:cheap-call-failed .*small:\d+\+\d+tok\/\$0\/failed:HTTP-500/);
  const [tiny, small, big] = data.usage.verify.calls;
  assert.equal(small.result, 'failed:HTTP-500');
  assert.equal(usd(small.cost), 0);
  assert.ok(usd(tiny.cost) > 0 && usd(big.cost) > 0);
  near(usd(data.usage.cost), usd(tiny.cost) + usd(big.cost), 'billed: tiny + big');
  // both fail: only the escalation is billed, and usage still itemises the calls
  const both = await ask('Pick. [[mock:status:tiny-1=500]] [[mock:status:small-1=503]] [[mock:answer=B]]');
  assert.equal(both.data.choices[0].message.content, 'B');
  assert.deepEqual(both.data.usage.verify.calls.map((c) => [c.model, c.result, usd(c.cost)]).slice(0, 2),
    [['tiny', 'failed:HTTP-500', 0], ['small', 'failed:HTTP-503', 0]]);
  near(usd(both.data.usage.cost), usd(both.data.usage.verify.calls[2].cost), 'billed: big only');
});

test('code: agreement is not enough; the configured verifier checks it (PASS accepts, FAIL escalates)', async () => {
  const code = '```python\\nprint(1)\\n```';
  const pass = await ask(`Write code. [[mock:answer=${code}]] [[mock:answer:checker-1=PASS]]`);
  assert.equal(pass.response.headers.get('x-gaterouter-model'), 'tiny');
  assert.match(pass.response.headers.get('x-gaterouter-route'), /verify=accepted:verifier-pass .*check@checker:.*\/pass/);
  assert.deepEqual(pass.data.usage.verify.calls.map((c) => c.role), ['cheap', 'cheap', 'check']);
  const fail = await ask(`Write code. [[mock:answer=${code}]] [[mock:answer:checker-1=FAIL]]`);
  assert.equal(fail.response.headers.get('x-gaterouter-model'), 'big');
  assert.match(fail.response.headers.get('x-gaterouter-route'), /verify=escalated:check-fail/);
  const id = fail.response.headers.get('x-gaterouter-request-id');
  const chk = await generation(`${id}.chk`);
  assert.equal(chk.model_served, 'checker-1');
  near(rowUsd(chk), usd(fail.data.usage.verify.calls[2].cost), 'check row');
});

test('a key budget must hold the worst case: every cheap call, the check and the escalation', async () => {
  const tight = new OpenAI({ baseURL: gw.baseURL, apiKey: TIGHT_KEY, maxRetries: 0 });
  const body = (model) => ({ model, max_tokens: 10000, messages: [{ role: 'user', content: 'hi [[mock:answer=B]]' }] });
  await assert.rejects(tight.chat.completions.create(body('auto:verify')), (e) => e.status === 402 && /budget/i.test(e.message));
  const best = await tight.chat.completions.create(body('auto:best'));
  assert.equal(best.choices[0].message.content, 'B');
});

test('a key TPM limit must hold every call the cascade may make', async () => {
  const k = new OpenAI({ baseURL: gw.baseURL, apiKey: TPM_KEY, maxRetries: 0 });
  const body = (model) => ({ model, max_tokens: 1000, messages: [{ role: 'user', content: 'hi [[mock:answer=B]]' }] });
  // one call reserves ~1000 tokens, the cascade ~4 calls' worth: over the 3000 tokens a minute
  await assert.rejects(k.chat.completions.create(body('auto:verify')), (e) => e.status === 429);
  assert.equal((await k.chat.completions.create(body('auto:best'))).choices[0].message.content, 'B');
});

test('/v1/route explains the cascade with numbers', async () => {
  const r = await fetch(`${gw.baseURL}/route`, {
    method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto:verify', messages: [{ role: 'user', content: 'What is 17 * 23?' }] }),
  });
  const plan = await r.json();
  assert.equal(plan.policy, 'auto:verify');
  const v = plan.verify;
  assert.equal(v.cascade, true, JSON.stringify(plan));
  assert.deepEqual(v.cheap.map((c) => c.model), ['tiny', 'small']);
  assert.equal(v.escalate_to.model, 'big');
  assert.equal(v.code_check.model, 'checker');
  assert.equal(v.code_check.role, 'verifier');
  near(v.expected_cost_if_accepted_usd, v.cheap[0].expected_cost_usd + v.cheap[1].expected_cost_usd, 'accept cost');
  near(v.expected_cost_if_escalated_usd, v.expected_cost_if_accepted_usd + v.escalate_to.expected_cost_usd, 'escalate cost');
  assert.ok(v.expected_cost_if_accepted_usd < v.expected_cost_direct_usd);
});

test('routing.auto.verify is validated at load: a good section passes, bad values are refused naming the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gr-verify-conf-'));
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const check = (verify) => {
    const path = join(dir, 'c.yaml');
    writeFileSync(path, `store: "sqlite://${dir}/g.db"\nrouting:\n  auto:\n    verify: ${verify}\n${MODELS}`);
    try {
      execFileSync(bin, ['--check-config', path], { stdio: 'pipe' });
      return '';
    } catch (e) {
      return String(e.stderr) + String(e.stdout);
    }
  };
  assert.equal(check('{ cheap_models: [tiny, small], max_cheap: 2, verifier: checker, agree: exact, timeout_ms: 5s }'), '');
  assert.match(check('{ max_cheap: 3 }'), /routing\.auto\.verify\.max_cheap/);
  assert.match(check('{ verifier: nope }'), /routing\.auto\.verify\.verifier: unknown model 'nope'/);
  assert.match(check('{ cheap_models: [tiny, ghost] }'), /routing\.auto\.verify\.cheap_models\[1\]: unknown model 'ghost'/);
  assert.match(check('{ agree: fuzzy }'), /routing\.auto\.verify\.agree/);
  assert.match(check('{ timeout_ms: 10 }'), /routing\.auto\.verify\.timeout_ms/);
});

test('the cheap phase has a deadline (timeout_ms): a slow cheap model escalates; a client leaving mid-cascade is harmless', async () => {
  const gw2 = await startGateway({
    config: (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "-", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
${ROUTING.replace('timeout_ms: 10s', 'timeout_ms: 300ms')}${MODELS}`,
  });
  try {
    const c2 = new OpenAI({ baseURL: gw2.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
    const t0 = Date.now();
    const { data, response } = await c2.chat.completions
      .create({ model: 'auto:verify', messages: [{ role: 'user', content: 'Pick. [[mock:delay_ms:small-1=3000]] [[mock:answer=B]]' }] })
      .withResponse();
    assert.ok(Date.now() - t0 < 2500, 'did not wait for the slow cheap model');
    assert.equal(response.headers.get('x-gaterouter-model'), 'big');
    assert.match(response.headers.get('x-gaterouter-route'), /verify=escalated:timeout .*small:.*\/timeout/);
    const small = data.usage.verify.calls.find((c) => c.model === 'small');
    assert.equal(small.result, 'timeout');
    assert.equal(small.cost_estimated, true, 'a stopped call is billed its prompt, marked estimated');
    near(usd(data.usage.cost), data.usage.verify.calls.reduce((s, c) => s + usd(c.cost), 0), 'usage.cost');
    // the client leaves while both cheap calls are pending: the gateway stays up and serves the next request
    const ac = new AbortController();
    const gone = fetch(`${gw2.baseURL}/chat/completions`, {
      method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto:verify', stream: true, messages: [{ role: 'user', content: 'x [[mock:delay_ms=250]]' }] }),
    }).catch((e) => e);
    await new Promise((r) => setTimeout(r, 80));
    ac.abort();
    await gone;
    await new Promise((r) => setTimeout(r, 400));
    const after = await c2.chat.completions.create({ model: 'auto:verify', messages: [{ role: 'user', content: 'again [[mock:answer=7]]' }] });
    assert.equal(after.choices[0].message.content, '7');
  } finally {
    const code = await gw2.stop();
    assert.doesNotMatch(gw2.logs(), /AddressSanitizer|LeakSanitizer|runtime error:/, 'sanitizer report');
    assert.equal(code, 0, `gateway exit ${code}`);
  }
});

test('a Messages (Anthropic) client gets the accepted cheap answer as its own stream events', async () => {
  const r = await fetch(`${gw.base}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': LEDGER_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'auto:verify', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Sky colour? [[mock:answer=Blue.]]' }] }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('x-gaterouter-route'), /verify=accepted:same-text-'blue'/);
  const sse = await r.text();
  assert.match(sse, /event: message_start/);
  assert.match(sse, /"text_delta","text":"Blue\."/);
  assert.match(sse, /event: message_stop/);
});

test('an x402 quote covers the worst case too: every cheap call and the check on top of the escalation', async () => {
  const gw3 = await startGateway({
    config: (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "off", level: info }
auth: { keys: [] }
x402:
  settle: none
  networks:
    - { network: base-sepolia, asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", name: USDC, version: "2", pay_to: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C" }
routing:
  auto: { models: [tiny, small, big] }
${MODELS}`,
  });
  try {
    const quote = async (model) => {
      const r = await fetch(`${gw3.baseURL}/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 402);
      return Number((await r.json()).accepts[0].maxAmountRequired); // USDC atomic units (1e-6 USD)
    };
    const best = await quote('auto:best'), verify = await quote('auto:verify');
    // tiny 1000 x $0.2/M + small 1000 x $0.4/M + the check on tiny ((1000 + 120) x $0.1/M in, 16 x $0.2/M out)
    // = 200 + 400 + 112 + 3.2 units, plus a few units for the prompt
    const extra = verify - best;
    assert.ok(extra >= 715 && extra < 760, `auto:verify quoted ${verify}, auto:best ${best}`);
  } finally {
    await gw3.stop();
  }
});

test('max_cheap 1 without a verifier: the cheap model checks its own answer (PASS accepts, anything else escalates); completions are not cascaded', async () => {
  const gw4 = await startGateway({
    config: (port, dir) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gaterouter.db"
log: { access_log: "off", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
routing:
  auto: { models: [tiny, small, big], verify: { max_cheap: 1 } }
${MODELS.replace(/pricing/g, 'capabilities: [chat, completions], pricing')}`,
  });
  try {
    const c4 = new OpenAI({ baseURL: gw4.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
    // the mock answers the check call like the question (same directive): "PASS" passes its own check
    const pass = await c4.chat.completions.create({ model: 'auto:verify', messages: [{ role: 'user', content: 'Say PASS. [[mock:answer:tiny-1=PASS]]' }] }).withResponse();
    assert.equal(pass.response.headers.get('x-gaterouter-model'), 'tiny');
    assert.match(pass.response.headers.get('x-gaterouter-route'), /verify=accepted:self-check-pass calls=tiny:.*\/answered,check@tiny:.*\/pass/);
    assert.deepEqual(pass.data.usage.verify.calls.map((c) => [c.model, c.role]), [['tiny', 'cheap'], ['tiny', 'check']]);
    const fail = await c4.chat.completions.create({ model: 'auto:verify', messages: [{ role: 'user', content: 'Sum? [[mock:answer:tiny-1=42]] [[mock:answer:big-1=43]]' }] }).withResponse();
    assert.equal(fail.data.choices[0].message.content, '43');
    assert.match(fail.response.headers.get('x-gaterouter-route'), /verify=escalated:check-fail calls=tiny:.*\/answered,check@tiny:.*\/fail then=big/);
    const comp = await fetch(`${gw4.baseURL}/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto:verify', prompt: 'hello' }),
    });
    assert.equal(comp.status, 200, await comp.clone().text());
    assert.match(comp.headers.get('x-gaterouter-route'), /verify=off:not-chat/);
  } finally {
    await gw4.stop();
  }
});
