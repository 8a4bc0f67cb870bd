// discovery.test.mjs — what an agent can read before its first payment, all
// generated from the running config: the `bazaar` extension in every 402
// (read with the official @x402/core client and checked against its own
// schema; its example body is then served and the reply checked against the
// output schema), GET /.well-known/x402, GET /v1/x402/pricing (prices per
// model per 1M tokens and the most a request of a given size can be charged,
// in USD and atomic units), GET /openapi.json (OpenAPI 3.1); the documents
// follow a config reload (cached per config snapshot) and carry no secrets.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x402Client, x402HTTPClient } from '@x402/core/client';
import { PaymentRequiredV2Schema } from '@x402/core/schemas';
import {
  startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, assertCleanLogs, usdToNusd,
} from './lib.mjs';

let chain, token, gw;
const deployer = account(0), payTo = account(1);
const RELAYER_KEY = accountKey(2);

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  gw = await startGateway({ config: gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
    relayerKey: RELAYER_KEY }) });
});

after(async () => {
  try { // the chain stops even when the gateway's logs fail the suite (a live anvil keeps node --test waiting)
    if (gw) {
      const code = await gw.stop();
      assertCleanLogs(gw.logs());
      assert.equal(code, 0, `the gateway exits 0 (under valgrind: no memory error, no leak):\n${gw.logs().slice(-3000)}`);
    }
  } finally {
    if (chain) await chain.stop();
  }
});

// A small JSON Schema (2020-12) check of what these documents use: type,
// const, enum, required, properties, additionalProperties, items, minItems,
// oneOf, minimum. Returns the list of violations.
function check(schema, v, path = '$') {
  const errs = [];
  const typeOk = (t) => (t === 'integer' ? Number.isInteger(v) : t === 'array' ? Array.isArray(v)
    : t === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v) : typeof v === t);
  if (schema.type && !typeOk(schema.type)) return [`${path}: not ${schema.type}`];
  if ('const' in schema && v !== schema.const) errs.push(`${path}: not ${schema.const}`);
  if (schema.enum && !schema.enum.includes(v)) errs.push(`${path}: not one of ${schema.enum}`);
  if (schema.minimum !== undefined && v < schema.minimum) errs.push(`${path}: below ${schema.minimum}`);
  if (schema.minItems !== undefined && v.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems}`);
  if (schema.oneOf && schema.oneOf.filter((s) => check(s, v, path).length === 0).length !== 1) errs.push(`${path}: oneOf`);
  if (schema.items) v.forEach((x, i) => errs.push(...check(schema.items, x, `${path}[${i}]`)));
  if (schema.type === 'object') {
    for (const k of schema.required || []) if (!(k in v)) errs.push(`${path}: missing ${k}`);
    for (const [k, s] of Object.entries(schema.properties || {})) if (k in v) errs.push(...check(s, v[k], `${path}.${k}`));
    if (schema.additionalProperties === false) {
      for (const k of Object.keys(v)) if (!(k in (schema.properties || {}))) errs.push(`${path}: extra ${k}`);
    }
  }
  return errs;
}

test('the schema check can fail', () => {
  const s = { type: 'object', required: ['a'], properties: { a: { type: 'string', const: 'x' } }, additionalProperties: false };
  assert.deepEqual(check(s, { a: 'x' }), []);
  assert.ok(check(s, {}).length && check(s, { a: 'y' }).length && check(s, { a: 'x', b: 1 }).length);
});

test('every 402 carries bazaar metadata, read by the official client; the example is served as described', async () => {
  for (const [path, body] of [['/v1/chat/completions', chatBody('hi', { max_tokens: 64 })],
    ['/v1/completions', JSON.stringify({ model: 'mock-gpt', prompt: 'hi', max_tokens: 64 })],
    ['/v1/messages', JSON.stringify({ model: 'mock-gpt', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })],
    ['/v1/responses', JSON.stringify({ model: 'mock-gpt', max_output_tokens: 64, input: 'hi' })]]) {
    const r = await fetch(`${gw.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(r.status, 402, `${path}: ${r.status === 402 ? '' : await r.clone().text()}`);
    const pr = new x402HTTPClient(new x402Client()).getPaymentRequiredResponse((n) => r.headers.get(n), await r.json());
    assert.equal(pr.x402Version, 2);
    assert.ok(PaymentRequiredV2Schema.safeParse(pr).success, 'a valid v2 PaymentRequired');
    const bz = pr.extensions.bazaar;
    assert.ok(bz, `${path}: bazaar`);
    assert.equal(bz.schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(check(bz.schema, bz.info), [], `${path}: info matches its schema`);
    assert.equal(bz.info.input.type, 'http');
    assert.equal(bz.info.input.method, 'POST');
    assert.equal(bz.info.input.bodyType, 'json');
    assert.equal(bz.info.input.body.model, 'mock-gpt');
    // the example, paid with an API key here, gives a reply of the described shape
    const ok = await fetch(`${gw.base}${path}`, { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test-x402-0001' },
      body: JSON.stringify(bz.info.input.body) });
    assert.equal(ok.status, 200, `${path}: ${ok.status === 200 ? '' : await ok.clone().text()}`);
    const reply = await ok.json();
    assert.deepEqual(check(bz.info.output.schema, reply), [], `${path}: reply matches the output schema: ${JSON.stringify(reply).slice(0, 300)}`);
    // and a body missing what the schema requires is refused by the gateway too
    assert.ok(check(bz.schema.properties.input.properties.body, { model: 'mock-gpt' }).length > 0);
  }
});

test('GET /.well-known/x402: the paid resources, their bazaar metadata, networks, schemes, extensions, prices', async () => {
  const r = await fetch(`${gw.base}/.well-known/x402`);
  assert.equal(r.status, 200);
  const w = await r.json();
  assert.equal(w.version, 1);
  assert.deepEqual(w.resources, ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/messages', '/v1/responses']
    .map((p) => `${gw.base}${p}`));
  assert.equal(w.items.length, w.resources.length);
  for (const it of w.items) {
    assert.equal(it.method, 'POST');
    assert.deepEqual(check(it.extensions.bazaar.schema, it.extensions.bazaar.info), [], it.resource);
  }
  assert.equal(w.offer.accepts[0].network, 'eip155:84532');
  assert.equal(w.offer.accepts[0].asset, token.address);
  assert.equal(w.offer.accepts[0].payTo, payTo.address);
  assert.deepEqual(w.offer.schemes, ['exact']);
  assert.deepEqual(w.offer.extensions, ['payment-identifier', 'bazaar']);
  assert.ok(w.offer.models.some((m) => m.model === 'mock-gpt'));
  assert.equal(w.pricing, `${gw.base}/v1/x402/pricing`);
  assert.equal(w.openapi, `${gw.base}/openapi.json`);
  const text = JSON.stringify(w);
  for (const secret of [RELAYER_KEY.slice(2), 'sk-test-x402-0001', 'adm-test-x402-0001']) {
    assert.ok(!text.toLowerCase().includes(secret.toLowerCase()), 'no secrets');
  }
});

test('GET /v1/x402/pricing: per-model prices per 1M tokens and the most a request of a given size is charged', async () => {
  const r = await fetch(`${gw.base}/v1/x402/pricing?max_tokens=100&prompt_tokens=1000`);
  assert.equal(r.status, 200);
  const m = (await r.json()).models.find((x) => x.model === 'mock-gpt');
  assert.equal(m.input_usd_per_mtok, '2.5');
  assert.equal(m.output_usd_per_mtok, '10');
  // 1000 x $2.50/M + 100 x $10/M = $0.0035 = 3500 atomic units of a 6-decimal token
  assert.deepEqual(m.max_charge, { prompt_tokens: 1000, max_tokens: 100, usd: '0.0035',
    amounts: [{ network: 'eip155:84532', asset: token.address, amount: '3500' }] });
  const d = (await (await fetch(`${gw.base}/v1/x402/pricing`)).json()).models.find((x) => x.model === 'mock-gpt');
  assert.equal(d.max_charge.max_tokens, 1000, 'default: x402.default_max_tokens');
  assert.equal(d.max_charge.usd, '0.01');
  for (const q of ['max_tokens=0', 'max_tokens=abc', 'prompt_tokens=-1', 'max_tokens=1000000000']) {
    const b = await fetch(`${gw.base}/v1/x402/pricing?${q}`);
    assert.equal(b.status, 400, q);
    assert.equal((await b.json()).error.code, 'invalid_value');
  }
});

test('GET /openapi.json: OpenAPI 3.1 of the public API, from the endpoint table', async () => {
  const r = await fetch(`${gw.base}/openapi.json`);
  assert.equal(r.status, 200);
  const doc = await r.json();
  assert.equal(doc.openapi, '3.1.0');
  for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/messages', '/v1/responses', '/v1/models',
    '/v1/x402/pricing', '/.well-known/x402', '/openapi.json', '/health']) assert.ok(doc.paths[p], p);
  assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/admin')), 'the admin API is not public');
  const chat = doc.paths['/v1/chat/completions'].post;
  assert.deepEqual(chat.requestBody.content['application/json'].schema.required, ['model', 'messages']);
  assert.ok(chat.responses['402'], 'paid: 402 documented');
  assert.deepEqual(chat.security.map((s) => Object.keys(s)[0]), ['bearer', 'x402']);
  assert.equal(doc.paths['/v1/messages'].post.responses.default.content['application/json'].schema.$ref,
    '#/components/schemas/AnthropicError');
  // every operation has responses and an operationId, ids are unique, every $ref resolves
  const ids = new Set();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      assert.ok(['get', 'post'].includes(m), `${p} ${m}`);
      assert.ok(op.responses && Object.keys(op.responses).length, `${p} ${m}: responses`);
      assert.ok(!ids.has(op.operationId), op.operationId);
      ids.add(op.operationId);
    }
  }
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((x) => x[1]);
  assert.ok(refs.length > 0);
  for (const ref of refs) assert.ok(ref.split('/').reduce((o, k) => o?.[k], doc), ref);
  // the chat request schema accepts the example an agent would send and refuses an empty body
  const schema = chat.requestBody.content['application/json'].schema;
  assert.deepEqual(check(schema, JSON.parse(chatBody('hi'))), []);
  assert.ok(check(schema, {}).length > 0);
});

test('the 402 names the most it can charge and why: model, prompt estimate, output cap, prices', async () => {
  const r = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: chatBody('how much at most?', { max_tokens: 64 }) });
  assert.equal(r.status, 402);
  const b = await r.json();
  const q = b.quote;
  assert.equal(q.model, 'mock-gpt');
  assert.equal(q.max_output_tokens, 64);
  assert.equal(q.input_usd_per_mtok, '2.5');
  assert.equal(q.output_usd_per_mtok, '10');
  assert.ok(q.prompt_tokens_estimated > 0);
  const max = usdToNusd(q.max_cost_usd);
  assert.equal(max, BigInt(q.prompt_tokens_estimated) * 2500n + 64n * 10000n, 'prompt x input + cap x output');
  assert.equal(BigInt(b.accepts[0].maxAmountRequired), (max + 999n) / 1000n, 'the amount asked is that maximum');
  assert.match(b.accepts[0].description, /max cost \$0\.\d+ = ~\d+ prompt tokens x \$2\.5\/Mtok input \+ 64 max output tokens x \$10\/Mtok output/);
});

test('the documents follow a config reload (cached per config snapshot)', async () => {
  const path = join(gw.dir, 'config.yaml');
  const price = async () => (await (await fetch(`${gw.base}/v1/x402/pricing`)).json()).models.find((x) => x.model === 'mock-gpt');
  assert.equal((await price()).input_usd_per_mtok, '2.5');
  const wk = async () => (await (await fetch(`${gw.base}/.well-known/x402`)).json()).offer.models.find((x) => x.model === 'mock-gpt');
  assert.equal((await wk()).input_usd_per_mtok, '2.5');
  writeFileSync(path, readFileSync(path, 'utf8').replace('pricing: { input: 2.50, output: 10.00 }', 'pricing: { input: 3.00, output: 10.00 }'));
  gw.proc.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (!/config reloaded/.test(gw.logs())) {
    assert.ok(Date.now() < deadline, 'reloaded');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await price()).input_usd_per_mtok, '3');
  assert.equal((await wk()).input_usd_per_mtok, '3');
});
