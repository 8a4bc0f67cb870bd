// embeddings.test.mjs — routing.auto.embeddings (issue 18): `route train`
// builds a bank with the mock's (deterministic) embeddings; with it, the
// neighbours' outcomes move `auto` for the same prompt (/v1/route and a real
// chat call); the prompt's embedding is cached; an embeddings model that
// does not answer costs at most timeout_ms and the decision goes on without
// it; one that fails is reported; a client leaving mid-wait is harmless;
// --check-config refuses a missing bank or a model without embeddings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, freePort, repoRoot } from '../compat/harness.mjs';
import { KEY_A, PROMPT, routeAuto } from './common.mjs';

const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const dir = mkdtempSync(join(tmpdir(), 'gr-embed-'));
const bank = join(dir, 'bank.jsonl');
let mock, silent, silentPort, failingPort, failing;

// stops a gateway; under the sanitizer build a report fails the test
async function stopClean(gw) {
  await gw.stop();
  assert.doesNotMatch(gw.logs(), /AddressSanitizer|LeakSanitizer|runtime error/);
}

const config = (port, { embedProvider = 'mock', timeout = 300, embeddings } = {}) => `
server: { listen: 127.0.0.1:${port}, workers: 1 }
store: "sqlite://${dir}/gr-${port}.db"
log: { access_log: "-", level: info }
auth: { keys: [ { name: alice, key: ${KEY_A} } ] }
routing:
  auto:
    models: [cheap, strong]
    embeddings: ${embeddings ?? `{ model: embed, bank: "${bank}", k: 5, weight: 0.5, timeout_ms: ${timeout}, cache_entries: 64 }`}
providers:
  - { name: mock, kind: mock }
  - { name: silent, kind: openai, base_url: "http://127.0.0.1:${silentPort}/v1", timeouts: { connect_ms: 1000, first_byte_ms: 10000 } }
  - { name: failing, kind: openai, base_url: "http://127.0.0.1:${failingPort}/v1" }
models:
  - { name: cheap, provider: mock, model: cheap-1, quality: 60, pricing: { input: 0.1, output: 0.4 } }
  - { name: strong, provider: mock, model: strong-1, quality: 85, pricing: { input: 3, output: 15 } }
  - { name: embed, provider: ${embedProvider}, model: embed-1, capabilities: [embeddings] }
  - { name: chatty, provider: mock, model: chatty-1 }
`;

before(async () => {
  // an embeddings server that accepts and never answers, and one that answers 500
  silent = net.createServer((s) => s.on('error', () => {}));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = silent.address().port;
  failing = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end('HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
  });
  await new Promise((r) => failing.listen(0, '127.0.0.1', r));
  failingPort = failing.address().port;
  const mockPort = await freePort();
  mock = spawn(bin, ['mock', '--port', String(mockPort)], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${mockPort}/v1/models`).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // 40 coding prompts where strong fails and cheap succeeds
  const lines = [];
  for (let i = 0; i < 40; i++)
    lines.push(JSON.stringify({ prompt: i === 0 ? PROMPT : `${PROMPT} (variant ${i})`, outcomes: { 'strong-1': 0, cheap: 1 } }));
  writeFileSync(join(dir, 'train.jsonl'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'cfg.yaml'), config(1));
  const r = spawnSync(bin, ['route', '--config', join(dir, 'cfg.yaml'), 'train', join(dir, 'train.jsonl'),
    '--base-url', `http://127.0.0.1:${mockPort}/v1`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /40 prompts embedded with embed-1 \(16 dimensions\)/);
});
after(() => { mock?.kill(); silent?.close(); failing?.close(); });

test('the neighbours move auto for the same prompt; the embedding is cached', async () => {
  const gw = await startGateway({ config: (port) => config(port) });
  try {
    const first = await routeAuto(gw);
    assert.equal(first.chosen, 'cheap');
    assert.equal(first.by.strong.embedding_quality, 0);
    assert.equal(first.by.cheap.embedding_quality, 1);
    const j = await (await fetch(`${gw.base}/v1/route`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: PROMPT }] }) })).json();
    assert.equal(j.auto.embeddings.status, 'cached');
    // a real call: served by cheap, the header says why
    const r = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: PROMPT }] }) });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    assert.equal(r.headers.get('x-gaterouter-model'), 'cheap');
    assert.match(r.headers.get('x-gaterouter-route'), / emb=cached /);
    // a named model never waits for embeddings
    const named = await fetch(`${gw.base}/v1/route`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` },
      body: JSON.stringify({ model: 'chatty', messages: [{ role: 'user', content: PROMPT }] }) });
    assert.equal((await named.json()).auto, undefined);
  } finally { await stopClean(gw); }
});

test('without the signal the same prompt goes to strong (the bank is what moved it)', async () => {
  const gw = await startGateway({ config: (port) => config(port, { embeddings: 'null' }) });
  try {
    const d = await routeAuto(gw);
    assert.equal(d.chosen, 'strong');
    assert.equal(d.by.strong.embedding_quality, undefined);
  } finally { await stopClean(gw); }
});

test('an embeddings model that never answers costs at most timeout_ms; the decision goes on without it', async () => {
  const gw = await startGateway({ config: (port) => config(port, { embedProvider: 'silent', timeout: 150 }) });
  try {
    const t0 = Date.now();
    const res = await fetch(`${gw.base}/v1/route`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: PROMPT }] }) });
    const ms = Date.now() - t0;
    const j = await res.json();
    assert.equal(res.status, 200);
    assert.equal(j.auto.embeddings.status, 'timeout');
    assert.ok(j.auto.embeddings.wait_ms >= 140 && j.auto.embeddings.wait_ms < 1000, `waited ${j.auto.embeddings.wait_ms} ms`);
    assert.ok(ms < 2000, `answered in ${ms} ms`);
    assert.equal(j.auto.models.find((m) => m.chosen).model, 'strong');
    // a client that leaves while its request waits: the gateway stays healthy
    const ac = new AbortController();
    const gone = fetch(`${gw.base}/v1/chat/completions`, { method: 'POST', signal: ac.signal,
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: `${PROMPT} left` }] }) }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 40));
    ac.abort();
    assert.equal(await gone, 'aborted');
    await new Promise((r) => setTimeout(r, 300));
    const again = await fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: PROMPT }] }) });
    assert.equal(again.status, 200);
    await again.arrayBuffer();
    assert.match(again.headers.get('x-gaterouter-route'), / emb=timeout /);
  } finally { await stopClean(gw); }
});

test('an embeddings model that fails is reported and ignored', async () => {
  const gw = await startGateway({ config: (port) => config(port, { embedProvider: 'failing' }) });
  try {
    const j = await (await fetch(`${gw.base}/v1/route`, { method: 'POST', headers: { authorization: `Bearer ${KEY_A}` },
      body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: PROMPT }] }) })).json();
    assert.equal(j.auto.embeddings.status, 'error');
    assert.equal(j.auto.models.find((m) => m.chosen).model, 'strong');
  } finally { await stopClean(gw); }
});

test('--check-config refuses an embeddings signal that cannot work', () => {
  const cases = [
    [`{ model: embed, bank: "${dir}/missing.jsonl" }`, /routing\.auto\.embeddings\.bank: cannot read the bank/],
    [`{ model: chatty, bank: "${bank}" }`, /routing\.auto\.embeddings\.model: 'chatty' must have the embeddings capability/],
    [`{ model: nope, bank: "${bank}" }`, /routing\.auto\.embeddings\.model: unknown model 'nope'/],
    [`{ model: embed, bank: "${bank}", k: 0 }`, /routing\.auto\.embeddings\.k/],
    [`{ model: embed, bank: "${bank}", weight: 2 }`, /routing\.auto\.embeddings\.weight/],
    [`{ bank: "${bank}" }`, /routing\.auto\.embeddings\.model: required/],
  ];
  writeFileSync(join(dir, 'bad-bank.jsonl'), '{"hello": 1}\n');
  cases.push([`{ model: embed, bank: "${dir}/bad-bank.jsonl" }`, /not a gaterouter route bank/]);
  for (const [embeddings, want] of cases) {
    const cfg = join(dir, 'check.yaml');
    writeFileSync(cfg, config(1, { embeddings }));
    const r = spawnSync(bin, ['--check-config', cfg], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, embeddings);
    assert.match(r.stderr + r.stdout, want, embeddings);
  }
  const cfg = join(dir, 'check.yaml');
  writeFileSync(cfg, config(1));
  assert.equal(spawnSync(bin, ['--check-config', cfg], { encoding: 'utf8' }).status, 0);
});
