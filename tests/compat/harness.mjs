// harness.mjs — starts a GateRouter process on a free loopback port with a
// test config (built-in mock provider), waits until /ready, and stops it.
// The binary comes from GR_BIN (set by CTest) or build/gaterouter.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, basename } from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export const TEST_KEY = 'sk-gaterouter-test-key-0001';

// The `store:` of a test gateway: a SQLite file in its temp dir, or, when
// GR_TEST_STORE_URL is a postgres:// URL (CTest compat_metering_pg), a fresh
// database per temp dir on that server (created with psql).
export function testStoreUrl(dir) {
  const base = process.env.GR_TEST_STORE_URL;
  if (!base) return `sqlite://${dir}/gaterouter.db`;
  const db = `gr_c_${basename(dir)}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const exists = execFileSync('psql', ['-X', '-At', base, '-c', `SELECT 1 FROM pg_database WHERE datname = '${db}'`]).toString().trim();
  if (!exists) execFileSync('psql', ['-X', '-q', base, '-c', `CREATE DATABASE "${db}"`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
}

// A minimal gateway config: a store in dir, one worker, the test key, and
// the providers/models YAML a suite brings (its own upstream fakes).
export function minimalConfig(port, dir, providersAndModels) {
  return `
store: "${testStoreUrl(dir)}"
server: { listen: 127.0.0.1:${port}, workers: 1 }
log: { access_log: "off", level: info }
auth: { keys: [ { name: test, key: ${TEST_KEY} } ] }
${providersAndModels}`;
}

export function defaultConfig(port, extra = '', dir = tmpdir()) {
  return `
store: "${testStoreUrl(dir)}"
server:
  listen: 127.0.0.1:${port}
  workers: 2
  max_body_bytes: 1MiB
log:
  access_log: "-"
  level: info
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
routing:
  # The API-surface suites inject faults on purpose; the breaker and 429
  # cooldowns have their own suite (routing.test.mjs).
  health: { rate_limit_cooldown_ms: 0, consecutive_failures: 1000 }
providers:
  - name: mock
    kind: mock
models:
  - name: mock-gpt
    aliases: [gpt-4o-mini]
    provider: mock
    model: mock-gpt-1
    pricing: { input: 0.15, output: 0.60 }
    capabilities: [chat, tools, json, stream, completions]
  # Fault-injection tests target this deployment so their failures (which feed
  # the circuit breaker) never cool down the one the other tests use.
  - name: mock-faults
    provider: mock
    model: mock-faults-1
    pricing: { input: 0.15, output: 0.60 }
    capabilities: [chat, tools, json, stream, completions]
  - name: mock-embed
    aliases: [text-embedding-3-small]
    provider: mock
    model: mock-embed-1
    capabilities: [embeddings]
${extra}`;
}

// freePort() can race with another suite running in parallel (the port is
// free when probed, taken when the gateway binds): retry on a new port.
export async function startGateway(opts = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startGatewayOnce(opts);
    } catch (e) {
      if (attempt >= 5 || !/Address already in use/.test(String(e.message))) throw e;
    }
  }
}

async function startGatewayOnce({ config, env = {} } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gr-test-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, config ? config(port, dir) : defaultConfig(port, '', dir));
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const proc = spawn(bin, ['--config', path], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep the start of the output (start-up lines) and a bounded tail: a long
  // soak writes far more access-log lines than a string can hold.
  const HEAD = 64 * 1024, TAIL = 8 * 1024 * 1024;
  let head = '', tail = '';
  const take = (d) => {
    if (head.length < HEAD) head += d;
    else {
      tail += d;
      if (tail.length > 2 * TAIL) tail = tail.slice(-TAIL);
    }
  };
  proc.stdout.on('data', take);
  proc.stderr.on('data', take);
  const logs = () => (tail ? `${head}\n…\n${tail.slice(-TAIL)}` : head);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited early (${proc.exitCode}):\n${logs()}`);
    try {
      const r = await fetch(`${base}/ready`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`gateway did not become ready:\n${logs()}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  const mockPort = Number((logs().match(/mock provider on 127\.0\.0\.1:(\d+)/) || [])[1] || 0);
  return {
    port, base, baseURL: `${base}/v1`, proc, dir, mockPort,
    logs,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? proc.signalCode;
      proc.kill(signal);
      return await new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig)));
    },
  };
}

// A standalone `gaterouter mock` on a free port (it speaks OpenAI, Anthropic
// Messages and Gemini natively), for gateways whose providers reach it
// through the native adapters. stop() returns its exit code.
export async function startStandaloneMock() {
  const port = await freePort();
  const bin = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
  const proc = spawn(bin, ['mock', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (d) => { logs += d; });
  proc.stderr.on('data', (d) => { logs += d; });
  const deadline = Date.now() + 10000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mock exited early (${proc.exitCode}):\n${logs}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/mock/stats`)).ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`mock did not come up:\n${logs}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, logs: () => logs,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return await new Promise((resolve) => proc.on('exit', (c, sig) => resolve(c ?? sig)));
    },
  };
}

// defaultConfig's providers plus `anth` (kind anthropic) and `gem` (kind
// gemini) on a standalone mock, and `extraProviders` (YAML list entries).
export function withNativeProviders(config, mockPort, extraProviders = '') {
  return config.replace(`providers:
  - name: mock
    kind: mock
`, `providers:
  - name: mock
    kind: mock
${extraProviders}  - name: anth
    kind: anthropic
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: sk-ant-mock
  - name: gem
    kind: gemini
    base_url: http://127.0.0.1:${mockPort}/v1beta
    api_key: gemini-mock-key
`);
}
