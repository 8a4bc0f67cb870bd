// config.test.mjs — issue #16 items 10 and 13 against the real binary:
// `--check-config` runs exactly the validation start-up and SIGHUP run, so
// every config the issue found passing the check and then failing at start
// (or running silently wrong) is refused by the check, by start-up and by a
// reload alike, with the key's path in the message; the admin API refuses
// unknown fields; a second instance on a taken port fails clearly; subcommand
// --help exits 0 and the main --help names the real flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, defaultConfig, freePort, repoRoot, TEST_KEY } from '../compat/harness.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function writeConfig(text) {
  const dir = mkdtempSync(join(tmpdir(), 'gr-sec-config-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, text.replaceAll('@DIR@', dir));
  return { dir, path };
}

function run(args, env = {}) {
  const r = spawnSync(BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const checkConfig = (text) => run(['--check-config', writeConfig(text).path]);

// Starts the binary on a config and waits until it exits (bad config) or
// answers /ready (good one); returns { code, out, proc }.
async function startOn(text, port) {
  const { path } = writeConfig(text);
  const proc = spawn(BIN, ['--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (proc.exitCode !== null) return { code: proc.exitCode, out, proc };
    if (port) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/ready`)).ok) return { code: null, out, proc };
      } catch { /* not up yet */ }
    }
    if (Date.now() > deadline) return { code: null, out, proc };
    await sleep(50);
  }
}

async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;
  proc.kill('SIGTERM');
  return await new Promise((resolve) => proc.on('exit', (c, s) => resolve(c ?? s)));
}

const BASE = `store: "sqlite://@DIR@/g.db"
providers: [ { name: mock, kind: mock } ]
models:
  - { name: m, provider: mock, pricing: { input: 1, output: 2 } }
  - { name: n, provider: mock, aliases: [n-alias], pricing: { input: 1, output: 2 } }
`;

// Each row: what the issue found, the YAML added to BASE, the message expected.
const refused = [
  ['x402.settle: bogus', 'x402: { settle: bogus, networks: [] }\n', /x402\.settle: want self, facilitator or none/],
  ['unknown routing.health key', 'routing: { health: { consecutive_failure: 3 } }\n',
    /routing\.health\.consecutive_failure: unknown key \(did you mean consecutive_failures\?\)/],
  ['short keys entry', 'keys: [ { name: ci, key: short } ]\n', /keys\[0\]: needs a name and a key of at least 16 characters/],
  ['keys entry with a typo', 'keys: [ { name: ci, key: sk-ci-0123456789abcdef, budget_daily: "1" } ]\n',
    /keys\[0\]: budget_daily: unknown key \(did you mean budget_daily_usd\?\)/],
  ['redis.url without scheme', 'redis: { url: "127.0.0.1:6379" }\n', /redis\.url: expected redis:\/\//],
  ['unknown store scheme', null, /store\.url: unknown URL scheme/],
  ['routing.auto.qualty (typo)', 'routing: { auto: { qualty: 0.9 } }\n', /routing\.auto\.qualty: unknown key \(did you mean quality\?\)/],
  ['strategy: least-latncy', null, /models\[0\]\.strategy: unknown value 'least-latncy' \(did you mean least-latency\?/],
  ['routing.auto.quality: 7', 'routing: { auto: { quality: 7 } }\n', /routing\.auto\.quality: 7 is out of range \(0\.\.1\)/],
  ['unknown model in routing.auto.models', 'routing: { auto: { models: [m, gpt-17] } }\n',
    /routing\.auto\.models\[1\]: unknown model 'gpt-17'/],
  ['a size in a duration (first_byte_ms: 2MiB)', null, /providers\[0\]\.timeouts\.first_byte_ms: cannot read '2MiB' as a duration/],
  ['a duration in a size (max_body_bytes: 30s)', 'server: { max_body_bytes: 30s }\n', /server\.max_body_bytes: cannot read '30s' as a size/],
  ['unused top-level pricing', 'pricing: { input: 1 }\n', /pricing: unknown key/],
  ['x402 typo', 'x402: { setle: none }\n', /x402\.setle: unknown key \(did you mean settle\?\)/],
  ['bare IPv6 listen', 'server: { listen: "::1:8080" }\n', /server\.listen: write an IPv6 address in brackets/],
];
const yamlFor = (name, extra) => {
  if (name === 'unknown store scheme') return BASE.replace('store: "sqlite://@DIR@/g.db"', 'store: "mysql://db/gr"');
  if (name === 'strategy: least-latncy') return BASE.replace('pricing: { input: 1, output: 2 } }', 'strategy: least-latncy }');
  if (name.startsWith('a size in a duration'))
    return BASE.replace('{ name: mock, kind: mock }', '{ name: mock, kind: mock, timeouts: { first_byte_ms: 2MiB } }');
  return BASE + extra;
};

for (const [name, extra, want] of refused) {
  test(`--check-config refuses ${name}, naming the key`, () => {
    const r = checkConfig(yamlFor(name, extra));
    assert.equal(r.code, 1, `--check-config must fail:\n${r.out}`);
    assert.match(r.out, want);
  });
}

test('--check-config and start-up agree: a config the check refuses fails start-up with the same message', async () => {
  for (const [name, extra, want] of refused) {
    const r = await startOn(yamlFor(name, extra), 0);
    if (r.code === null) await stop(r.proc);
    assert.equal(r.code, 1, `${name}: start-up must fail:\n${r.out}`);
    assert.match(r.out, want, name);
  }
});

test('durations and sizes are read by type: units of the other kind are refused, their own accepted', () => {
  const r = checkConfig(BASE.replace('{ name: mock, kind: mock }', '{ name: mock, kind: mock, timeouts: { first_byte_ms: 2m, total_ms: 1h } }') +
    'server: { max_body_bytes: 2m, client_timeout_ms: 90s, drain_timeout_ms: 1500ms }\n');
  assert.equal(r.code, 0, r.out);
  for (const [key, value] of [['client_timeout_ms', '64KiB'], ['drain_timeout_ms', '1g'], ['max_header_bytes', '2h'], ['max_body_bytes', '1.5MiB']]) {
    const bad = checkConfig(`${BASE}server: { ${key}: ${value} }\n`);
    assert.equal(bad.code, 1, `${key}: ${value} must be refused:\n${bad.out}`);
    assert.match(bad.out, new RegExp(`server\\.${key}: cannot read '${value.replace('.', '\\.')}' as a (duration|size)`));
  }
});

test('server.listen "[::1]:port" listens on IPv6 loopback (supported, not a start-up failure)', async () => {
  const port = await freePort();
  const text = `${BASE}server: { listen: "[::1]:${port}", workers: 1 }\n`;
  assert.equal(checkConfig(text).code, 0);
  const { path } = writeConfig(text);
  const proc = spawn(BIN, ['--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  let ok = false;
  for (let i = 0; i < 100 && proc.exitCode === null && !ok; i++) {
    try { ok = (await fetch(`http://[::1]:${port}/ready`)).ok; } catch { await sleep(50); }
  }
  const code = await stop(proc);
  assert.ok(ok, `gateway on [::1]:${port} must answer /ready:\n${out}`);
  assert.equal(code, 0);
});

test('every shipped config passes --check-config', () => {
  const env = { OPENAI_API_KEY: 'x', ANTHROPIC_API_KEY: 'x', GEMINI_API_KEY: 'x', DEEPSEEK_API_KEY: 'x', GROQ_API_KEY: 'x', GR_ADMIN_KEY: 'x' };
  const files = ['config/gaterouter.yaml', ...readdirSync(join(repoRoot, 'config/examples')).map((f) => `config/examples/${f}`)];
  for (const f of files) {
    const r = run(['--check-config', join(repoRoot, f)], env);
    assert.equal(r.code, 0, `${f}:\n${r.out}`);
    assert.match(r.out, /: OK \(/);
  }
});

test('SIGHUP with an invalid config keeps the running one and logs why', async () => {
  let cfgPath;
  const gw = await startGateway({
    config: (port, dir) => {
      cfgPath = join(dir, 'config.yaml');
      return defaultConfig(port, '', dir);
    },
  });
  try {
    writeFileSync(cfgPath, defaultConfig(gw.port, '', gw.dir).replace('routing:\n', 'routing:\n  auto: { qualty: 0.9 }\n'));
    gw.proc.kill('SIGHUP');
    const deadline = Date.now() + 5000;
    while (!/reload failed/.test(gw.logs()) && Date.now() < deadline) await sleep(50);
    assert.match(gw.logs(), /reload failed, keeping the running config: .*routing\.auto\.qualty: unknown key \(did you mean quality\?\)/);
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'still up?' }] }),
    });
    assert.equal(r.status, 200, 'the old config keeps serving');
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('admin API: an unknown field (budget_daily) is 400, not an unlimited key (201)', async () => {
  const admin = 'adm-sec-config-0123456789';
  const gw = await startGateway({ config: (port, dir) => defaultConfig(port, '', dir).replace('auth:\n', `auth:\n  admin_key: ${admin}\n`) });
  try {
    const post = (body) => fetch(`${gw.base}/admin/keys`, {
      method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const bad = await post({ name: 'typo', budget_daily: '1.00' });
    const j = await bad.json();
    assert.equal(bad.status, 400, JSON.stringify(j));
    assert.equal(j.error.code, 'invalid_key_spec');
    assert.match(j.error.message, /budget_daily: unknown key \(did you mean budget_daily_usd\?\)/);
    const list = await (await fetch(`${gw.base}/admin/keys`, { headers: { authorization: `Bearer ${admin}` } })).json();
    assert.equal(list.data.filter((k) => k.name === 'typo').length, 0, 'no key was created');
    const good = await post({ name: 'ok', budget_daily_usd: '1.00' });
    assert.equal(good.status, 201);
    const patch = await fetch(`${gw.base}/admin/keys/${(await good.json()).id}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ rpn: 5 }),
    });
    assert.equal(patch.status, 400, 'PATCH refuses unknown fields too');
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('a second instance on a port in use exits non-zero with a clear error; server.reuse_port: true shares it', async () => {
  const port = await freePort();
  const text = `${BASE}server: { listen: "127.0.0.1:${port}", workers: 1 }\n`;
  const first = await startOn(text, port);
  assert.equal(first.code, null, `first instance must start:\n${first.out}`);
  try {
    const second = await startOn(text.replace('g.db', 'g2.db'), 0);
    if (second.code === null) await stop(second.proc);
    assert.equal(second.code, 1, `second instance must fail:\n${second.out}`);
    assert.match(second.out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`));
    const both = `${BASE}server: { listen: "127.0.0.1:${port}", workers: 1, reuse_port: true }\n`;
    const shared = await startOn(both, port);
    assert.equal(shared.code, null, `reuse_port: true must not be refused by this check:\n${shared.out}`);
    assert.doesNotMatch(shared.out, /address already in use/);
    await stop(shared.proc);
  } finally {
    assert.equal(await stop(first.proc), 0);
  }
});

test('gaterouter keys --help and usage --help exit 0 with their usage; --help names the real flags', () => {
  const keys = run(['keys', '--help']);
  assert.equal(keys.code, 0, keys.out);
  assert.match(keys.out, /gaterouter keys create .*--budget USD/);
  const usage = run(['usage', '--help']);
  assert.equal(usage.code, 0, usage.out);
  assert.match(usage.out, /--by key\|model\|provider\|day/);
  const main = run(['--help']);
  assert.equal(main.code, 0);
  for (const flag of ['--config', '-c', '--check-config', '--by', '--explain', '--version', 'keys --help'])
    assert.ok(main.out.includes(flag), `--help lacks ${flag}`);
  assert.doesNotMatch(main.out, /--group-by/, 'no flag that does not exist');
});
