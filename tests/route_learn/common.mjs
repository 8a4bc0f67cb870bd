// common.mjs — helpers of the routing.auto.learning suites: a gateway with a
// cheap and a strong model under `auto`, auto calls, ratings, and polling
// /v1/route until the learned estimates show.
import assert from 'node:assert/strict';

export const KEY_A = 'sk-learn-test-key-aaaaaaaaaaaa';
export const KEY_B = 'sk-learn-test-key-bbbbbbbbbbbb';
export const ADMIN = 'adm-learn-test-0123456789abcdef';
// a coding prompt: with the tier priors below, `auto` sends it to `strong`
export const PROMPT = 'Write a Python function that parses a CSV file and returns the rows as dicts, handling quoted fields.';

export function learnConfig(port, store, learning = '{ enabled: true, prior_strength: 5, refresh_ms: 200, max_comment_bytes: 64 }') {
  return `
server: { listen: 127.0.0.1:${port}, workers: 2 }
store: "${store}"
log: { access_log: "-", level: info }
auth:
  admin_key: ${ADMIN}
  keys: [ { name: alice, key: ${KEY_A} }, { name: bob, key: ${KEY_B} } ]
routing:
  auto:
    models: [cheap, strong]
    learning: ${learning}
providers:
  - { name: mock, kind: mock }
models:
  - { name: cheap, provider: mock, model: cheap-1, quality: 60, pricing: { input: 0.1, output: 0.4 } }
  - { name: strong, provider: mock, model: strong-1, quality: 85, pricing: { input: 3, output: 15 } }
`;
}

const body = (model, content = PROMPT) => JSON.stringify({ model, messages: [{ role: 'user', content }] });

// One chat call; returns the gateway's generation id and the model that served it.
export async function ask(gw, key = KEY_A, model = 'auto') {
  const r = await fetch(`${gw.base}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body(model),
  });
  assert.equal(r.status, 200, await r.text());
  await r.arrayBuffer().catch(() => {});
  return { id: r.headers.get('x-gaterouter-request-id'), model: r.headers.get('x-gaterouter-model') };
}

export async function rate(gw, key, payload, raw) {
  const r = await fetch(`${gw.base}/v1/feedback`, {
    method: 'POST', headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(payload),
  });
  return { status: r.status, json: await r.json() };
}

// The ledger row is written shortly after the reply: retry a 404 for a while.
export async function rateWhenLedgered(gw, key, payload) {
  const until = Date.now() + 10000;
  for (;;) {
    const res = await rate(gw, key, payload);
    if (res.status !== 404 || Date.now() > until) return res;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function routeAuto(gw, key = KEY_A) {
  const r = await fetch(`${gw.base}/v1/route`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body('auto'),
  });
  assert.equal(r.status, 200);
  const j = await r.json();
  const by = Object.fromEntries(j.auto.models.map((m) => [m.model, m]));
  return { chosen: j.auto.models.find((m) => m.chosen).model, by };
}

// Polls /v1/route until pred(decision) holds (the snapshot refreshes off the request path).
export async function routeUntil(gw, pred, what, ms = 10000) {
  const until = Date.now() + ms;
  let last;
  for (;;) {
    last = await routeAuto(gw);
    if (pred(last)) return last;
    if (Date.now() > until) assert.fail(`${what}: never happened; last decision ${JSON.stringify(last.by)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
