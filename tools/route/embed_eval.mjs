// embed_eval.mjs — what routing.auto.embeddings adds to auto's decisions, and
// what it costs in latency, measured with the real binary. No real embedder
// is reachable here, so the embeddings come from the built-in mock's local,
// deterministic hashed word n-grams (model id containing "ngram", 256
// dimensions) — a lexical similarity, not a semantic one. For the RouterBench
// tasks (11 models, real per-prompt cost) every 5th prompt is held out;
// `gaterouter route train` builds the bank from the others; a gateway decides
// each held-out prompt through POST /v1/route with the signal off and on.
//
//   node tools/route/embed_eval.mjs [--task arc|mbpp|all] [--data DIR] [--bin build/gaterouter]
//                                   [--k 20] [--weight 0.5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { loadEverything, RB_PRICES } from './data.mjs';
import { REPO, findDataDir } from './lib.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const task = arg('task', 'all');
const bin = arg('bin', path.join(REPO, 'build', 'gaterouter'));
const k = Number(arg('k', '20')), weight = Number(arg('weight', '0.5'));
const items = loadEverything(findDataDir(arg('data'))).filter((it) => it.set === 'routerbench' && (task === 'all' || it.task === task));
const test = items.filter((_, i) => (i + 1) % 5 === 0);
const train = items.filter((_, i) => (i + 1) % 5 !== 0);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-embed-eval-'));
const models = Object.keys(RB_PRICES);
const KEY = 'sk-embed-eval-000000000000000001';

const freePort = () => new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const config = (port, mockPort, embeddings) => [
  `server: { listen: 127.0.0.1:${port}, workers: 1 }`,
  `store: "sqlite://${dir}/gr-${port}.db"`,
  'log: { access_log: "off", level: warn }',
  `auth: { keys: [ { name: eval, key: ${KEY} } ] }`,
  'routing:',
  '  auto:',
  `    models: [${models.join(', ')}]`,
  embeddings ? `    embeddings: { model: ngram-embed, bank: "${dir}/bank.jsonl", k: ${k}, weight: ${weight}, timeout_ms: 1000 }` : '',
  'providers:',
  '  - { name: mock, kind: mock }',
  `  - { name: ext, kind: openai, base_url: "http://127.0.0.1:${mockPort}/v1" }`,
  'models:',
  ...models.map((m) => `  - { name: ${m}, provider: mock, model: ${m}, pricing: { input: ${RB_PRICES[m][0]}, output: ${RB_PRICES[m][1]} } }`),
  '  - { name: ngram-embed, provider: ext, model: mock-ngram-embed, capabilities: [embeddings] }',
].join('\n') + '\n';

async function gateway(cfgText) {
  const cfg = path.join(dir, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(cfg, cfgText);
  const port = Number(cfgText.match(/listen: 127\.0\.0\.1:(\d+)/)[1]);
  const proc = spawn(bin, ['--config', cfg], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, stop: () => new Promise((r) => { proc.on('exit', r); proc.kill('SIGTERM'); }) };
}

const POLICIES = ['auto:cheap', 'auto:balanced', 'auto:best'];
async function decide(port) {
  const out = {};
  for (const policy of POLICIES) {
    let q = 0, cost = 0, wait = 0;
    const ms = [];
    for (const it of test) {
      const t0 = process.hrtime.bigint();
      const r = await fetch(`http://127.0.0.1:${port}/v1/route`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: policy, messages: [{ role: 'user', content: it.prompt }] }) });
      const j = await r.json();
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const chosen = j.auto.models.find((m) => m.chosen).model;
      q += it.outcomes[chosen];
      cost += it.cost[chosen];
      if (j.auto.embeddings && !['ok', 'cached'].includes(j.auto.embeddings.status)) throw new Error(`embeddings ${j.auto.embeddings.status}`);
      wait += j.auto.embeddings?.wait_ms ?? 0;
    }
    ms.sort((a, b) => a - b);
    out[policy] = { q: q / test.length, usd1k: (1000 * cost) / test.length, p50: ms[ms.length >> 1],
      p99: ms[Math.floor(ms.length * 0.99)], wait: wait / test.length };
  }
  return out;
}

const mockPort = await freePort();
const mock = spawn(bin, ['mock', '--port', String(mockPort)], { stdio: 'ignore' });
for (let i = 0; i < 100; i++) {
  if (await fetch(`http://127.0.0.1:${mockPort}/v1/models`).then(() => true, () => false)) break;
  await new Promise((r) => setTimeout(r, 50));
}
try {
  fs.writeFileSync(path.join(dir, 'train.jsonl'), train.map((it) => JSON.stringify({ prompt: it.prompt, outcomes: it.outcomes })).join('\n') + '\n');
  const cfgTrain = path.join(dir, 'train.yaml');
  fs.writeFileSync(cfgTrain, config(1, mockPort, true));
  execFileSync(bin, ['route', '--config', cfgTrain, 'train', path.join(dir, 'train.jsonl')], { stdio: 'inherit' });
  const off = await gateway(config(await freePort(), mockPort, false));
  await decide(off.port); // warm-up: the latency columns compare warm gateways
  const before = await decide(off.port);
  await off.stop();
  const on = await gateway(config(await freePort(), mockPort, true));
  const after = await decide(on.port); // auto:cheap misses the cache, the next two policies hit it
  await on.stop();
  console.log(`RouterBench ${task}: ${items.length} prompts, ${test.length} held out (every 5th), bank of ${train.length}; ` +
    `hashed word n-gram embeddings (mock, 256 dims), k ${k}, weight ${weight}`);
  console.log('| policy | off: quality | $/1k | /v1/route p50 / p99 ms | on: quality | $/1k | /v1/route p50 / p99 ms | embedding wait, mean ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const p of POLICIES)
    console.log(`| ${p} | ${before[p].q.toFixed(3)} | ${before[p].usd1k.toFixed(3)} | ${before[p].p50.toFixed(2)} / ${before[p].p99.toFixed(2)} | ` +
      `${after[p].q.toFixed(3)} | ${after[p].usd1k.toFixed(3)} | ${after[p].p50.toFixed(2)} / ${after[p].p99.toFixed(2)} | ` +
      `${after[p].wait.toFixed(2)} (${p === POLICIES[0] ? 'misses' : 'cache hits'}) |`);
} finally {
  mock.kill();
  fs.rmSync(dir, { recursive: true, force: true });
}
