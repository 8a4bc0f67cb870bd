// siwx.test.mjs — sign-in-with-x credit sessions end to end on a local
// chain: a wallet tops up once with a real x402 payment (an over-payment
// becomes credit), then each request is a signed SIGN-IN-WITH-X header
// (EIP-4361 message, EIP-191 personal_sign, as the spec and
// @x402/extensions' client build it — signed here with viem's
// createSiweMessage + signMessage: @x402/extensions is not a dependency of
// this project) served from that credit with no chain transaction (the
// block number does not move), the balance falling by exactly the metered
// costs. Refused: expired, wrong domain, replayed nonce, forged signature,
// insufficient credit (402 with the top-up offer); parallel calls never
// overspend. GET /v1/x402/credit signed shows balance and history. Also
// measures the latency per paid request: per-call on chain vs session.
import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createSiweMessage } from 'viem/siwe';
import { wrapFetchWithPayment, x402Client } from '@x402/fetch';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import {
  generatePrivateKey, privateKeyToAccount, startAnvil, deployToken, account, accountKey, gatewayConfig, startGateway, chatBody, b64json, signAuth, toB64,
  waitSettlement, assertCleanLogs, usdToNusd,
} from './lib.mjs';

let chain, token, gw;
const storeDir = mkdtempSync(join(tmpdir(), 'gr-siwx-')); // shared by the second gateway of the cluster test
const siwxConfig = (more = '') => gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
  relayerKey: accountKey(2), storeDir, extra: `  siwx: true\n  siwx_max_age_s: 120\n${more}` });
const deployer = account(0), payTo = account(1);
const agent = account(5), poor = account(6), racer = account(7), timer = account(8), pair = account(9);

before(async () => {
  chain = await startAnvil();
  token = await deployToken(chain, deployer);
  for (const a of [agent, poor, racer, timer, pair]) await token.mint(a.address, 10_000_000n);
  gw = await startGateway({ config: siwxConfig() });
});

after(async () => {
  try {
    if (gw) {
      const code = await gw.stop();
      assertCleanLogs(gw.logs());
      assert.equal(code, 0, `the gateway exits 0:\n${gw.logs().slice(-3000)}`);
    }
  } finally {
    if (chain) await chain.stop();
  }
});

const chatURL = (base = gw.base) => `${base}/v1/chat/completions`;
const post = (body, headers = {}, base = gw.base) => fetch(chatURL(base), { method: 'POST',
  headers: { 'content-type': 'application/json', ...headers }, body });

// The 402 for body: its PaymentRequired (header) and body.
async function challenge(body = chatBody(), base = gw.base) {
  const q = await post(body, {}, base);
  assert.equal(q.status, 402);
  const json = await q.json();
  return { pr: b64json(q.headers.get('payment-required')), body: json };
}

// Signs the challenge's sign-in-with-x info as the spec's client does;
// `edit` changes fields before signing, `forge` signs with another key.
async function signIn(signer, info, { edit = {}, forge } = {}) {
  const f = { ...info, address: signer.address, chainId: 'eip155:84532', type: 'eip191', signatureScheme: 'eip191',
    ...edit };
  const message = createSiweMessage({
    domain: f.domain, address: f.address, statement: f.statement, uri: f.uri, version: f.version,
    chainId: Number(f.chainId.split(':')[1]), nonce: f.nonce, issuedAt: new Date(f.issuedAt),
    expirationTime: f.expirationTime ? new Date(f.expirationTime) : undefined, resources: f.resources,
  });
  const signature = await (forge || signer).signMessage({ message });
  return toB64({ ...f, signature });
}

async function sessionCall(signer, body = chatBody(), opts) {
  const { pr } = await challenge(body);
  const ext = pr.extensions['sign-in-with-x'];
  const hdr = await signIn(signer, ext.info, opts);
  return { res: await post(body, { 'sign-in-with-x': hdr }), hdr };
}

async function creditOf(who) {
  const j = await (await fetch(`${gw.base}/v1/x402/credit?address=${who.address}`)).json();
  assert.ok(j.credit_nusd !== undefined, JSON.stringify(j));
  return BigInt(j.credit_nusd);
}

// A top-up: one paid request whose v2 payment over-pays `value` atomic units.
async function topUp(signer, value, body = chatBody()) {
  const { pr } = await challenge(body);
  const accepted = { ...pr.accepts.find((a) => a.scheme === 'exact') };
  assert.ok(BigInt(accepted.amount) <= value, 'the top-up covers the quote');
  accepted.amount = String(value);
  const payload = await signAuth(signer, { token: token.address, to: payTo.address, value });
  const res = await post(body, { 'payment-signature': toB64({ x402Version: 2, resource: pr.resource, accepted,
    payload, extensions: {} }) });
  assert.equal(res.status, 200, await res.clone().text());
  await res.json();
  const { settlement } = await waitSettlement(gw.base, signer.address, res.headers.get('x-request-id'), 30000);
  assert.equal(settlement.state, 'settled');
}

const refusal = async (res) => {
  assert.equal(res.status, 402);
  const pr = b64json(res.headers.get('payment-required'));
  assert.ok(pr.extensions['sign-in-with-x'], 'a refusal carries a fresh challenge');
  return { code: pr.error, pr };
};

test('the 402 advertises sign-in-with-x: a CAIP-122 challenge bound to this host and resource', async () => {
  const { pr } = await challenge();
  const ext = pr.extensions['sign-in-with-x'];
  assert.ok(ext, JSON.stringify(pr.extensions));
  const { info } = ext;
  assert.equal(info.domain, '127.0.0.1');
  assert.equal(info.uri, `${gw.base}/v1/chat/completions`);
  assert.equal(info.version, '1');
  assert.match(info.nonce, /^[0-9a-f]{32}$/);
  const issued = Date.parse(info.issuedAt), expires = Date.parse(info.expirationTime);
  assert.ok(Math.abs(issued - Date.now()) < 10000);
  assert.equal(expires - issued, 120000, 'expiration = issuedAt + x402.siwx_max_age_s');
  assert.deepEqual(ext.supportedChains, [{ chainId: 'eip155:84532', type: 'eip191', signatureScheme: 'eip191' }]);
  const again = (await challenge()).pr.extensions['sign-in-with-x'].info.nonce;
  assert.notEqual(again, info.nonce, 'a fresh nonce per challenge');
});

test('top-up once, then N signed calls from credit: no chain transaction, balance falls by exactly the costs', async () => {
  await topUp(agent, 1_000_000n); // $1
  const start = await creditOf(agent);
  assert.ok(start > 900_000_000n, `credit after a $1 top-up: ${start}`);
  const block = await chain.publicClient.getBlockNumber();
  const tokenBalance = await token.balanceOf(agent.address);
  let spent = 0n;
  for (let i = 0; i < 5; i++) {
    const { res } = await sessionCall(agent, chatBody(`session call ${i}`));
    const out = await res.json();
    assert.equal(res.status, 200, JSON.stringify(out));
    assert.equal(res.headers.get('x-gaterouter-x402-settlement'), 'session');
    assert.equal(res.headers.get('x-gaterouter-x402-payer'), agent.address.toLowerCase());
    const cost = usdToNusd(res.headers.get('x-gaterouter-cost'));
    assert.ok(cost > 0n);
    spent += cost;
    const { settlement } = await waitSettlement(gw.base, agent.address, res.headers.get('x-request-id'));
    assert.equal(settlement.state, 'session');
    assert.equal(BigInt(settlement.cost_nusd), cost);
  }
  assert.equal(await chain.publicClient.getBlockNumber(), block, 'no transaction was mined');
  assert.equal(await token.balanceOf(agent.address), tokenBalance, 'no token moved');
  assert.equal(await creditOf(agent), start - spent, 'credit fell by exactly the metered costs');
  const metrics = await (await fetch(`${gw.base}/metrics`)).text();
  const sessions = metrics.match(/^gaterouter_x402_payments_total\{[^}]*event="session"[^}]*\} (\d+)/m);
  assert.ok(sessions && Number(sessions[1]) >= 5, 'the metrics count the session admissions');
});

test('refused: expired, wrong domain, wrong uri, replayed nonce, forged signature — and nothing is spent', async () => {
  const before = await creditOf(agent);
  const { pr } = await challenge();
  const info = pr.extensions['sign-in-with-x'].info;
  const old = new Date(Date.now() - 600_000).toISOString();
  const cases = [
    [{ edit: { issuedAt: old, expirationTime: new Date(Date.now() - 60_000).toISOString() } }, 'siwx_expired'],
    [{ edit: { issuedAt: old, expirationTime: undefined } }, 'siwx_expired'],
    [{ edit: { domain: 'evil.example' } }, 'siwx_domain_mismatch'],
    [{ edit: { uri: 'https://evil.example/v1/chat/completions' } }, 'siwx_uri_mismatch'],
    [{ edit: { chainId: 'eip155:1' } }, 'siwx_unsupported_chain'],
    [{ forge: poor }, 'siwx_invalid_signature'],
  ];
  for (const [opts, want] of cases) {
    const res = await post(chatBody(), { 'sign-in-with-x': await signIn(agent, info, opts) });
    const { code } = await refusal(res);
    assert.equal(code, want, JSON.stringify(opts));
  }
  // replay: the same signed header twice
  const { res, hdr } = await sessionCall(agent);
  assert.equal(res.status, 200);
  await res.json();
  const again = await post(chatBody(), { 'sign-in-with-x': hdr });
  assert.equal((await refusal(again)).code, 'siwx_nonce_used');
  await waitSettlement(gw.base, agent.address, res.headers.get('x-request-id'));
  const cost = usdToNusd(res.headers.get('x-gaterouter-cost'));
  assert.equal(await creditOf(agent), before - cost, 'only the one served call was charged');
});

test('insufficient credit: 402 with the top-up offer (the full quote)', async () => {
  assert.equal(await creditOf(poor), 0n);
  const { res } = await sessionCall(poor);
  const { code, pr } = await refusal(res);
  assert.equal(code, 'siwx_insufficient_credit');
  const exact = pr.accepts.find((a) => a.scheme === 'exact');
  assert.ok(BigInt(exact.amount) > 0n, 'the offer asks for a payment');
  const body = await res.json();
  assert.equal(BigInt(exact.amount) * 1000n, usdToNusd(body.quote.max_cost_usd), 'the top-up offer is the full max cost');
});

// Sends the signed calls at once; each is served or refused for want of
// credit. How many were served and what they cost, once their ends are recorded.
async function race(who, calls, body) {
  const results = await Promise.all(calls.map(({ base, hdr }) => post(body, { 'sign-in-with-x': hdr }, base)));
  let ok = 0, spent = 0n;
  for (const r of results) {
    if (r.status === 200) {
      ok++;
      spent += usdToNusd(r.headers.get('x-gaterouter-cost'));
      await r.json();
      await waitSettlement(gw.base, who.address, r.headers.get('x-request-id'));
    } else {
      assert.equal((await refusal(r)).code, 'siwx_insufficient_credit');
    }
  }
  return { ok, spent };
}

test('parallel signed calls never overspend: each holds its worst case, atomically', async () => {
  // a slow upstream keeps every call in flight together
  const slow = chatBody('Race. [[mock:delay_ms=1500]]');
  const { body: q } = await challenge(slow);
  const maxCost = usdToNusd(q.quote.max_cost_usd);
  await topUp(racer, (maxCost * 5n) / 1000n); // 5 worst cases paid; the top-up's own cost comes out of it
  const start = await creditOf(racer);
  const fits = start / maxCost;
  assert.ok(fits >= 3n && fits < 5n, `credit ${start} holds ${fits} worst cases`);
  const headers = [];
  for (let i = 0; i < 10; i++) headers.push(await signIn(racer, (await challenge(slow)).pr.extensions['sign-in-with-x'].info));
  const { ok, spent } = await race(racer, headers.map((hdr) => ({ base: gw.base, hdr })), slow);
  assert.ok(ok >= 1, 'some calls were served');
  assert.ok(BigInt(ok) <= fits, `${ok} served but the credit held only ${fits} worst cases`);
  const end = await creditOf(racer);
  assert.ok(end >= 0n);
  assert.equal(end, start - spent, 'credit = start - the served costs, exactly');
});

test('two gateways on one store: the balance and the nonces are shared — no overspend, no replay across instances', async () => {
  // behind one public URL (a load balancer's): the same sign-in domain and uri on both
  const gw2 = await startGateway({ config: siwxConfig(`  public_url: "${gw.base}"\n`) });
  try {
    const slow = chatBody('Race across instances. [[mock:delay_ms=1500]]');
    const maxCost = usdToNusd((await challenge(slow)).body.quote.max_cost_usd);
    await topUp(pair, (maxCost * 5n) / 1000n, slow);
    const start = await creditOf(pair);
    const fits = start / maxCost;
    const calls = [];
    for (let i = 0; i < 10; i++) {
      const base = i % 2 ? gw2.base : gw.base;
      const info = (await challenge(slow, base)).pr.extensions['sign-in-with-x'].info;
      calls.push({ base, hdr: await signIn(pair, info) });
    }
    const { ok, spent } = await race(pair, calls, slow);
    assert.ok(ok >= 1 && BigInt(ok) <= fits, `${ok} served, ${fits} fit`);
    assert.equal(await creditOf(pair), start - spent, 'one balance for both instances, exact');
    // a sign-in used on one instance is spent on the other too
    const { res, hdr } = await sessionCall(pair);
    assert.equal(res.status, 200);
    await res.json();
    const replay = await post(chatBody(), { 'sign-in-with-x': hdr }, gw2.base);
    assert.equal((await refusal(replay)).code, 'siwx_nonce_used');
  } finally {
    const code = await gw2.stop();
    assertCleanLogs(gw2.logs());
    assert.equal(code, 0, gw2.logs().slice(-3000));
  }
});

test('kill -9 after session replies: every session job ends `session` with no transaction, charged its cost or (end lost) its hold, once', async () => {
  const crashConfig = () => {
    const base = siwxConfig();
    return (port, dir) => base(port, dir).replace('x402:\n', 'x402:\n  instance_id: crash-siwx\n  heartbeat_interval_ms: 200\n' +
      '  instance_dead_after_ms: 1000\n  sweep_interval_ms: 300\n');
  };
  const victim = privateKeyToAccount(generatePrivateKey());
  await token.mint(victim.address, 10_000_000n);
  await topUp(victim, 1_000_000n);
  const start = await creditOf(victim);
  const relayer = account(2).address;
  const sent0 = await chain.publicClient.getTransactionCount({ address: relayer });
  const body = chatBody('Crash me gently.', { max_tokens: 16 });
  const hold = usdToNusd((await challenge(body)).body.quote.max_cost_usd);
  const served = [];
  let cgw = await startGateway({ config: crashConfig() });
  try {
    for (const ms of [0, 5, 50]) {
      const info = (await challenge(body, cgw.base)).pr.extensions['sign-in-with-x'].info;
      const res = await post(body, { 'sign-in-with-x': await signIn(victim, info) }, cgw.base);
      assert.equal(res.status, 200);
      await res.json();
      served.push({ id: res.headers.get('x-request-id'), cost: usdToNusd(res.headers.get('x-gaterouter-cost')) });
      await new Promise((r) => setTimeout(r, ms));
      await cgw.stop('SIGKILL');
      cgw = await startGateway({ config: crashConfig() });
    }
    // killed while the session request runs (admitted, its hold taken, its job open): the restarted
    // instance takes the job over and closes it `session` at the hold — no transaction
    const slow = chatBody('Crash me mid-flight. [[mock:delay_ms=3000]]', { max_tokens: 16 });
    const slowHold = usdToNusd((await challenge(slow, cgw.base)).body.quote.max_cost_usd);
    const info = (await challenge(slow, cgw.base)).pr.extensions['sign-in-with-x'].info;
    const inflight = post(slow, { 'sign-in-with-x': await signIn(victim, info) }, cgw.base).catch((e) => e);
    await new Promise((r) => setTimeout(r, 500));
    await cgw.stop('SIGKILL');
    assert.ok((await inflight) instanceof Error, 'the client lost its reply');
    cgw = await startGateway({ config: crashConfig() });
    const known = new Set(served.map((x) => x.id));
    let orphan;
    for (const deadline = Date.now() + 30000; !orphan; await new Promise((r) => setTimeout(r, 100))) {
      const j = await (await fetch(`${cgw.base}/v1/x402/credit?address=${victim.address}`)).json();
      orphan = j.settlements.find((x) => !known.has(x.request_id) && x.state !== 'settled' && x.state !== 'pending');
      assert.ok(Date.now() < deadline, `the orphaned session job is not closed: ${JSON.stringify(j.settlements)}`);
    }
    assert.equal(orphan.state, 'session', JSON.stringify(orphan));
    assert.ok(!orphan.tx_hash, 'no transaction');
    assert.equal(BigInt(orphan.cost_nusd), slowHold, 'charged its hold: its request may have been served');
    let charged = slowHold, lost = 0;
    for (const { id, cost } of served) {
      const { settlement } = await waitSettlement(cgw.base, victim.address, id, 30000);
      assert.equal(settlement.state, 'session', JSON.stringify(settlement));
      assert.ok(!settlement.tx_hash, 'no transaction');
      const c = BigInt(settlement.cost_nusd);
      assert.ok(c === cost || c === hold, `${id}: charged ${c}, cost ${cost}, hold ${hold}`);
      charged += c === cost ? cost : hold;
      if (c !== cost) lost++;
    }
    console.log(`# siwx crash: ${served.length} sessions, ${lost} charged their hold (request end lost to the kill)`);
    assert.equal(await chain.publicClient.getTransactionCount({ address: relayer }), sent0, 'nothing sent on chain');
    assert.equal(await creditOf(victim), start - charged, 'each session charged once');
  } finally {
    const code = await cgw.stop();
    assertCleanLogs(cgw.logs());
    assert.equal(code, 0, cgw.logs().slice(-3000));
  }
});

test('GET /v1/x402/credit signed: the wallet sees its own balance and session history; the nonce is single-use', async () => {
  const url = `${gw.base}/v1/x402/credit`;
  const q = await fetch(url);
  assert.equal(q.status, 402);
  const pr = await q.json();
  assert.deepEqual(pr.accepts, [], 'auth-only: nothing to pay');
  const info = pr.extensions['sign-in-with-x'].info;
  assert.equal(info.uri, url);
  const hdr = await signIn(agent, info);
  const res = await fetch(url, { headers: { 'sign-in-with-x': hdr } });
  const view = await res.json();
  assert.equal(res.status, 200, JSON.stringify(view));
  assert.equal(view.address, agent.address);
  assert.equal(BigInt(view.credit_nusd), await creditOf(agent));
  assert.ok(view.settlements.some((s) => s.state === 'session'), 'history lists the session spends');
  assert.ok(view.settlements.some((s) => s.state === 'settled'), 'and the top-up');
  const replay = await fetch(url, { headers: { 'sign-in-with-x': hdr } });
  assert.equal(replay.status, 401);
  assert.equal((await replay.json()).error.code, 'siwx_nonce_used');
  const forged = await fetch(url, { headers: { 'sign-in-with-x': await signIn(agent, info, { forge: poor }) } });
  assert.equal(forged.status, 401);
  assert.equal((await forged.json()).error.code, 'siwx_invalid_signature');
});

// Latency per paid request, as the client sees it (402 + signed retry):
// per-call on chain with the official v2 client vs a session call.
test('latency: per-call on-chain payment vs sign-in-with-x session', async () => {
  const N = Number(process.env.GR_SIWX_BENCH_N || 10);
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: timer });
  client.setSpendControls({ allowedAssets: [{ network: 'eip155:84532', asset: token.address, maxAmountPerPayment: '1000000' }] });
  const paying = wrapFetchWithPayment(fetch, client);
  const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  const onchain = [], session = [], settled = [];
  const relayer = account(2).address;
  const sent0 = await chain.publicClient.getTransactionCount({ address: relayer });
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const res = await paying(chatURL(), { method: 'POST', headers: { 'content-type': 'application/json' },
      body: chatBody(`timed ${i}`) });
    assert.equal(res.status, 200);
    await res.json();
    onchain.push(performance.now() - t0);
    await waitSettlement(gw.base, timer.address, res.headers.get('x-request-id'), 30000);
    settled.push(performance.now() - t0);
  }
  const sent = await chain.publicClient.getTransactionCount({ address: relayer }) - sent0;
  assert.equal(sent, N, 'one transaction per on-chain call');
  const block1 = await chain.publicClient.getBlockNumber();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const { res } = await sessionCall(timer, chatBody(`timed ${i}`));
    assert.equal(res.status, 200);
    await res.json();
    session.push(performance.now() - t0);
  }
  assert.equal(await chain.publicClient.getBlockNumber(), block1, 'sessions mine nothing');
  const f = (xs) => `p50 ${pct(xs, 0.5).toFixed(1)} ms, p95 ${pct(xs, 0.95).toFixed(1)} ms`;
  console.log(`x402 latency (${N} calls each): on-chain per call: reply ${f(onchain)}; until settled ${f(settled)}; ` +
    `session (sign-in-with-x): reply ${f(session)}`);
});

test('--check-config: siwx and siwx_max_age_s are validated at load; siwx needs a settling mode', async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'gr-x402-siwx-'));
  const check = (lines, settle = 'self') => {
    const base = gatewayConfig({ token: token.address, payTo: payTo.address, rpcUrl: chain.url,
      relayerKey: accountKey(2), settle });
    const path = join(dir, 'c.yaml');
    writeFileSync(path, base(1, dir).replace('x402:\n', `x402:\n${lines}`));
    const r = spawnSync(process.env.GR_BIN || 'build/gaterouter', ['--check-config', path], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  };
  const ok = check('  siwx: true\n  siwx_max_age_s: 10\n');
  assert.equal(ok.code, 0, ok.out);
  for (const [line, settle, want] of [['  siwx: yes please\n', 'self', /x402\.siwx: want true or false/],
    ['  siwx: true\n  siwx_max_age_s: 9\n', 'self', /siwx_max_age_s: want 10\.\.3600/],
    ['  siwx: true\n  siwx_max_age_s: 3601\n', 'self', /siwx_max_age_s/],
    ['  siwx: true\n', 'none', /x402\.siwx: needs settle: self or facilitator/]]) {
    const r = check(line, settle);
    assert.notEqual(r.code, 0, line);
    assert.match(r.out, want);
  }
});
