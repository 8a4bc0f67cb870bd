// availability.test.mjs — the gateway stays up and honest under input meant
// to take it down (issue 16, items 7 and 8):
//   * at the open-file limit (lowered with prlimit on the running process)
//     accept() backs off instead of spinning: little CPU, a few log lines,
//     and it serves again once descriptors are free;
//   * server.max_connections caps open connections (the rest wait in the
//     backlog and are served once one closes);
//   * server.body_timeout_ms cuts a body trickled slower than the idle
//     timeout could notice, with a 408 in the API's error shape;
//   * /metrics: labels are route templates, never raw paths: a quote or a
//     backslash in a path and 10,000 junk paths leave the exposition valid
//     (parsed line by line) and the real series intact; failed upstream
//     attempts are counted by provider and reason; an optional bearer token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startGateway, TEST_KEY, defaultConfig } from '../compat/harness.mjs';
import { rawExchange, sleep, waitFor, fdCount } from '../fault/common.mjs';
import { closedPort } from '../fault/flaky_upstream.mjs';

const statusOf = (text) => Number((text.match(/^HTTP\/1\.[01] (\d{3})/) || [])[1] || 0);
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (USER_HZ = 100)
};
const openSockets = (port, n) => Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.on('connect', () => resolve(s));
})));
// The compat config (2 workers) with extra server keys; `workers:` in extra replaces the 2.
const withServer = (extra) => (port, dir) => defaultConfig(port, '', dir)
  .replace('  workers: 2\n', /workers:/.test(extra) ? '' : '  workers: 2\n')
  .replace('  max_body_bytes: 1MiB\n', `  max_body_bytes: 1MiB\n${extra}`);

test('at the open-file limit accept() backs off for server.accept_backoff_ms: little CPU, a few log lines, and it serves again once fds free', async () => {
  const gw = await startGateway({ config: withServer('  workers: 1\n  accept_backoff_ms: 750\n') });
  const sockets = [];
  try {
    const pid = gw.proc.pid;
    const limit = fdCount(pid) + 16;
    const soft0 = Number(execFileSync('prlimit', [`--pid=${pid}`, '--nofile', '--raw', '--noheadings', '--output=SOFT']).toString().trim());
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${limit}:`]); // the soft limit: no privilege needed
    const cpu0 = cpuSeconds(pid), log0 = gw.logs().length;
    sockets.push(...await openSockets(gw.port, 200)); // far past the limit: the rest wait in the backlog
    await sleep(3000);
    const cpu = cpuSeconds(pid) - cpu0;
    const lines = gw.logs().slice(log0).split('\n').filter((l) => /accept/.test(l));
    assert.ok(cpu < 0.5, `CPU over 3 s at the fd limit: ${cpu} s (a spinning accept loop burns ~3 s)`);
    assert.ok(lines.length >= 1 && lines.length <= 8, `accept warnings in 3 s: ${lines.length}\n${lines.slice(0, 3).join('\n')}`);
    assert.match(lines[0], /Too many open files; accepting paused for 750 ms/);
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${soft0}:`]);
    assert.ok(await waitFor(async () => { try { return (await fetch(`${gw.base}/health`)).status === 200; } catch { return false; } }, 5000),
      'serves again once descriptors are free');
  } finally {
    for (const s of sockets) s.destroy();
    assert.equal(await gw.stop(), 0);
  }
});

test('server.max_connections: connections past the cap wait in the backlog and are served once one closes', async () => {
  // client_timeout_ms 1000: the harness's kept-alive readiness probe is closed before the test starts.
  const gw = await startGateway({ config: withServer('  workers: 1\n  max_connections: 4\n  client_timeout_ms: 1000\n') });
  const socks = [];
  try {
    await sleep(1500);
    socks.push(...await openSockets(gw.port, 6));
    const answers = socks.map((s) => new Promise((resolve) => {
      let buf = '';
      s.on('data', (d) => { buf += d; if (buf.includes('\r\n\r\n')) resolve(statusOf(buf)); });
    }));
    for (const s of socks) s.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const settled = await Promise.all(answers.map((p) => Promise.race([p, sleep(500).then(() => 0)])));
    assert.equal(settled.filter((st) => st === 200).length, 4, `4 of 6 answered at the cap: ${settled}`);
    for (let i = 0; i < 6; i++) if (settled[i] === 200) socks[i].destroy();
    const rest = await Promise.all(answers.map((p, i) => (settled[i] ? settled[i] : Promise.race([p, sleep(3000).then(() => 0)]))));
    assert.deepEqual(rest, [200, 200, 200, 200, 200, 200], 'the waiting ones are served once connections close');
  } finally {
    for (const s of socks) s.destroy();
    assert.equal(await gw.stop(), 0);
  }
});

test('server.body_timeout_ms: a body trickled under the idle timeout is cut with a 408 in the API error shape', async () => {
  const gw = await startGateway({ config: withServer('  client_timeout_ms: 5000\n  body_timeout_ms: 1000\n') });
  try {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`;
    const x = await rawExchange(gw.port, [[0, head], ...Array.from({ length: 20 }, () => [200, ' '])], { ms: 6000 });
    assert.equal(statusOf(x.text), 408, x.text.slice(0, 300));
    assert.ok(x.ms >= 900 && x.ms < 3000, `cut after ~body_timeout_ms (${x.ms} ms)`);
    const body = JSON.parse(x.text.slice(x.text.indexOf('\r\n\r\n') + 4));
    assert.equal(body.error.code, 'request_timeout');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.ok(x.closedByPeer, 'the connection is closed after the 408');
    assert.equal((await fetch(`${gw.base}/health`)).status, 200);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

// ---- /metrics ----

// One exposition line: a comment, or name{labels} value (text format 0.0.4).
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)?\\})? (\\S+)$`);
function parseExposition(text) {
  const series = new Map(), types = new Map();
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const line of text.slice(0, -1).split('\n')) {
    const t = line.match(new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`));
    if (t) { assert.ok(!types.has(t[1]), `one TYPE line per metric: ${t[1]}`); types.set(t[1], t[2]); continue; }
    if (new RegExp(`^# HELP ${NAME} .*$`).test(line)) continue;
    const m = line.match(SAMPLE);
    assert.ok(m, `not a valid exposition line: ${JSON.stringify(line)}`);
    assert.ok(!Number.isNaN(Number(m[m.length - 1])) || /^[+-]Inf$/.test(m[m.length - 1]), `value of ${line}`);
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(m[1]) || types.has(base), `sample before its TYPE: ${line}`);
    const labels = {};
    for (const l of (m[2] || '').matchAll(new RegExp(LABEL, 'g'))) labels[l[1]] = l[2];
    const key = `${m[1]}${JSON.stringify(labels)}`;
    assert.ok(!series.has(key), `duplicate series ${key}`);
    series.set(key, { name: m[1], labels, value: Number(m[m.length - 1]) });
  }
  return [...series.values()];
}
const find = (series, name, labels) => series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

test('/metrics: a quote and a backslash in a path and 10,000 junk paths leave the exposition valid and the real series intact', async () => {
  const dead = await closedPort();
  const extra = `  - name: dead-model\n    provider: dead\n    model: d1\n`;
  const gw = await startGateway({ config: (port, dir) => defaultConfig(port, extra, dir).replace('providers:\n',
    `providers:\n  - { name: dead, kind: openai, base_url: "http://127.0.0.1:${dead}/v1", api_key: "sk-dead-0123456789", timeouts: { connect_ms: 300 } }\n`) });
  try {
    const chat = (model) => fetch(`${gw.base}/v1/chat/completions`, { method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await chat('mock-gpt')).status, 200);
    assert.equal((await chat('dead-model')).status, 502);
    for (const path of ['/v1/x"y\\z', '/"', '/a\\"b"}c'])
      assert.equal(statusOf((await rawExchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { ms: 3000 })).text), 404);
    for (let i = 0; i < 10000; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => fetch(`${gw.base}/junk/${i + j}`).then((r) => r.arrayBuffer())));
    assert.equal((await chat('mock-gpt')).status, 200);
    const res = await fetch(`${gw.base}/metrics`);
    assert.equal(res.status, 200);
    const series = parseExposition(await res.text());
    const ok = find(series, 'gaterouter_requests_total', { route: '/v1/chat/completions', status: '200', model: 'mock-gpt', provider: 'mock' });
    assert.ok(ok, 'the real request series survives');
    assert.equal(ok.value, 2, 'and keeps counting after the junk');
    const other = find(series, 'gaterouter_requests_total', { route: 'other', status: '404' });
    assert.ok(other && other.value >= 10003, `junk paths fold into route="other": ${other?.value}`);
    assert.ok(!series.some((s) => /junk|x"y/.test(JSON.stringify(s.labels))), 'no raw path is a label');
    assert.equal(find(series, 'gaterouter_metrics_overflow_total', {}).value, 0, 'the series table never filled');
    const errs = find(series, 'gaterouter_upstream_errors_total', { provider: 'dead', reason: 'connect' });
    assert.ok(errs && errs.value >= 1, 'a failed upstream attempt is counted by provider and reason');
    assert.ok(series.length < 400, `series stay bounded: ${series.length}`);
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});

test('/metrics with server.metrics_token: 401 in the API error shape without it, 200 with it', async () => {
  const token = 'metrics-token-0123456789abcdef';
  const gw = await startGateway({ config: withServer(`  metrics_token: "${token}"\n`) });
  try {
    for (const h of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: token }]) {
      const r = await fetch(`${gw.base}/metrics`, { headers: h });
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') || '', /^Bearer/);
      assert.equal((await r.json()).error.code, 'invalid_metrics_token');
    }
    const r = await fetch(`${gw.base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /^# HELP gaterouter_requests_total/m);
    assert.equal((await fetch(`${gw.base}/health`)).status, 200, 'the probes stay open');
  } finally {
    assert.equal(await gw.stop(), 0);
  }
});
