// vertex_embed.test.mjs — /v1/embeddings on Vertex AI (kind: vertex): the
// official `openai` SDK -> gateway -> a Vertex fake (vertex_fake.mjs, which
// issues OAuth tokens for the service account's signed JWT and accepts only
// those) speaking the text-embedding :predict wire format: instances of
// {content}, parameters.outputDimensionality, predictions[].embeddings
// {values, statistics.token_count}. Usage is the sum of the token counts;
// gemini-embedding-001's one-input-per-request limit is a 400 before any call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, minimalConfig, TEST_KEY } from './harness.mjs';
import { makeServiceAccount, startVertexFake } from './vertex_fake.mjs';

let fake, gw, client;
const vector = (text, dims) => Array.from({ length: dims || 4 }, (_, i) => (text.length + i) / 8);

before(async () => {
  const sa = makeServiceAccount('http://placeholder/token');
  fake = await startVertexFake({ publicKey: sa.publicKey, clientEmail: sa.json.client_email, script: (rec) => {
    if (rec.method !== 'predict') return { status: 404, body: { error: { code: 404, message: 'not here', status: 'NOT_FOUND' } } };
    if (rec.body.instances[0].content === 'MALFORMED') return { predictions: [{ embeddings: { values: 'not numbers' } }] };
    const dims = rec.body.parameters?.outputDimensionality;
    return { predictions: rec.body.instances.map((inst) => ({ embeddings: { statistics: { truncated: false, token_count: inst.content.split(' ').length }, values: vector(inst.content, dims) } })),
      metadata: { billableCharacterCount: 10 } };
  } });
  sa.json.token_uri = `http://127.0.0.1:${fake.port}/token`;
  gw = await startGateway({
    config: (port, dir) => minimalConfig(port, dir, `
providers:
  - { name: vx, kind: vertex, location: us-central1, base_url: "http://127.0.0.1:${fake.port}", service_account: '${JSON.stringify(sa.json)}' }
models:
  - { name: vx-embed, provider: vx, model: text-embedding-005, pricing: { input: 1, output: 0 }, capabilities: [embeddings] }
  - { name: vx-gemini-embed, provider: vx, model: gemini-embedding-001, pricing: { input: 1, output: 0 }, capabilities: [embeddings] }
`),
  });
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: TEST_KEY, maxRetries: 0 });
});
after(async () => {
  const code = await gw?.stop();
  await fake?.close();
  assert.equal(code, 0, 'gateway drains and exits 0 on SIGTERM (no sanitizer report)');
});

test('a list of texts -> one :predict call with every instance; vectors, order and usage as the SDK expects', async () => {
  const r = await client.embeddings.create({ model: 'vx-embed', input: ['hello there world', 'hi'], dimensions: 3, encoding_format: 'float' });
  const sent = fake.requests.at(-1);
  assert.equal(sent.url, `/v1/projects/${sent.project}/locations/us-central1/publishers/google/models/text-embedding-005:predict`);
  assert.ok(sent.tokenOk, 'the bearer token the fake issued');
  assert.deepEqual(sent.body, { instances: [{ content: 'hello there world' }, { content: 'hi' }], parameters: { outputDimensionality: 3 } });
  assert.deepEqual(r.data.map((d) => [d.index, d.embedding]), [[0, vector('hello there world', 3)], [1, vector('hi', 3)]]);
  assert.equal(r.model, 'vx-embed');
  assert.equal(r.usage.prompt_tokens, 4, 'the sum of statistics.token_count');
});

test('one text, base64 (the SDK default): little-endian float32 of the values', async () => {
  const r = await client.embeddings.create({ model: 'vx-gemini-embed', input: 'one two' });
  assert.equal(fake.requests.at(-1).model, 'gemini-embedding-001');
  assert.deepEqual(fake.requests.at(-1).body, { instances: [{ content: 'one two' }] });
  assert.deepEqual(r.data[0].embedding.map((x) => Math.round(x * 1000) / 1000), vector('one two').map((x) => Math.round(x * 1000) / 1000));
  assert.equal(r.usage.prompt_tokens, 2);
});

test('gemini-embedding-001 takes one input: a list of two is a 400 before any call; a malformed reply is a 502', async () => {
  const calls = fake.requests.length;
  await assert.rejects(client.embeddings.create({ model: 'vx-gemini-embed', input: ['a', 'b'] }), (e) => e.status === 400 && /at most 1 input/.test(e.message));
  assert.equal(fake.requests.length, calls);
  await assert.rejects(client.embeddings.create({ model: 'vx-embed', input: 'MALFORMED' }), (e) => e.status === 502);
});
