// hostile_clients.test.mjs — clients that misbehave on purpose: slowloris,
// huge headers, oversized bodies, pipelining, half-closed sockets, a burst of
// 10,000 connections opened and dropped, invalid UTF-8, deep nesting, numbers
// out of range, unknown and duplicate fields. Expected behaviour is stated in
// each test; afterwards the gateway still serves and has leaked no fds.
// Limits in this config: max_header_bytes 16 KiB, max_body_bytes 1 MiB
// (the only body limit: over it, 413 before the body is read), client_timeout_ms 3000.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFaultRig, fdCount, rssKb, post, chatBody, assertOpenAIError, waitFor, sleep, rawExchange, TEST_KEY } from './common.mjs';

let rig, up, gw, fd0, rss0;
before(async () => {
  rig = await startFaultRig();
  ({ up, gw, fd0, rss0 } = rig);
});
after(() => rig.stop());

const reqHead = (body, extra = '') =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
const statusOf = (text) => Number((text.match(/^HTTP\/1\.[01] (\d{3})/) || [])[1] || 0);

test('slowloris headers (1 byte / 400 ms): other clients are served meanwhile; the connection is bounded by max_header_bytes', async () => {
  const line = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: `;
  const parts = [[0, line], ...Array.from({ length: 10 }, () => [400, 'a'])];
  const slow = Array.from({ length: 50 }, () => rawExchange(gw.port, parts, { ms: 6000 }));
  await sleep(500);
  const r = await post(gw.base, chatBody('f-ok_json'));
  assert.equal(r.status, 200, 'a normal client is served while 50 slowloris connections trickle');
  const res = await Promise.all(slow);
  // The headers must be complete within client_timeout_ms (3 s) of their
  // first byte, so each trickling connection is closed unanswered.
  for (const x of res) assert.equal(statusOf(x.text), 0);
});

test('an idle connection (nothing sent) is closed after client_timeout_ms', async () => {
  const x = await rawExchange(gw.port, [[0, 'POST /v1/chat/completions HTTP/1.1\r\n']], { ms: 8000 });
  assert.ok(x.closedByPeer, 'gateway closed it');
  assert.ok(x.ms >= 2500 && x.ms < 6000, `after ~client_timeout_ms (${x.ms} ms)`);
});

test('slowloris body (Content-Length 200, 1 byte / 400 ms then silence) -> closed after client_timeout_ms, no request made upstream', async () => {
  const before = up.requests.length;
  const body = chatBody('f-ok_json');
  const x = await rawExchange(gw.port, [[0, reqHead(body).replace(/Content-Length: \d+/, 'Content-Length: 200')], [400, '{'], [400, '"']], { ms: 9000 });
  assert.ok(x.closedByPeer);
  assert.ok(x.ms < 8000, `bounded (${x.ms} ms)`);
  assert.equal(up.requests.length, before);
});

test('huge headers (100 KiB > max_header_bytes) -> 4xx or close, never a crash', async () => {
  const big = `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(100 * 1024)}\r\n\r\n`;
  const x = await rawExchange(gw.port, big, { ms: 5000 });
  const st = statusOf(x.text);
  assert.ok(st === 0 ? x.closedByPeer : st >= 400 && st < 500, `4xx or closed (got ${st})`);
  const many = 'GET /v1/models HTTP/1.1\r\nHost: x\r\n' + Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n') + '\r\n\r\n';
  const y = await rawExchange(gw.port, many, { ms: 5000 });
  const st2 = statusOf(y.text);
  assert.ok(st2 === 0 ? y.closedByPeer : st2 >= 400 && st2 < 500, `3000 headers: 4xx or closed (got ${st2})`);
  assert.equal((await fetch(gw.base + '/health')).status, 200);
});

test('body over max_body_bytes -> JSON 413 request_too_large; 5 MiB (Content-Length over the limit) -> 413 before the body, or close', async () => {
  const pad = 'x'.repeat(1536 * 1024);
  const r = await post(gw.base, JSON.stringify({ model: 'f-ok_json', messages: [{ role: 'user', content: pad }] }));
  assert.equal(r.status, 413);
  assertOpenAIError(assert, r.json, 'invalid_request_error', 'request_too_large');
  let st = 0;
  try {
    const r2 = await post(gw.base, JSON.stringify({ model: 'f-ok_json', messages: [{ role: 'user', content: 'y'.repeat(5 * 1024 * 1024) }] }));
    st = r2.status;
  } catch { st = -1; /* connection closed while uploading: acceptable */ }
  assert.ok(st === 413 || st === -1, `5 MiB body: 413 or closed (got ${st})`);
});

test('pipelining: three requests in one write -> three responses, in order', async () => {
  const b = chatBody('f-ok_json');
  const data = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n' + reqHead(b) + b + 'GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + TEST_KEY + '\r\nConnection: close\r\n\r\n';
  const x = await rawExchange(gw.port, data, { ms: 5000 });
  const statuses = [...x.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 200, 200]);
  assert.ok(x.text.indexOf('hello from flaky') < x.text.indexOf('"object":"list"'), 'in order');
});

test('half-closed socket after a full request: no crash, the connection is closed, the upstream call is not left running', async () => {
  const b = chatBody('f-slow_ok', { delay_ms: 1500 });
  const x = await rawExchange(gw.port, reqHead(b) + b, { ms: 6000, halfClose: true });
  assert.ok(x.closedByPeer, 'gateway closed its side');
  const st = statusOf(x.text);
  // Documented: a FIN from the client before the answer is treated as a hang-up (499, upstream cancelled).
  assert.ok(st === 0 || st === 200, `no answer (treated as a disconnect) or the answer (got ${st})`);
  const rec = up.requests.at(-1);
  console.log(`# half-close: status ${st}, ${x.text.length} bytes, upstream called: ${rec?.scenario === 'slow_ok'}`);
  if (rec?.scenario === 'slow_ok') assert.ok(await waitFor(() => rec.closed, 3000), 'upstream request released');
});

test('10,000 connections opened and dropped (some mid-request): the gateway keeps serving and releases every fd', async () => {
  const open = (i) => new Promise((resolve) => {
    const s = net.connect(gw.port, '127.0.0.1');
    s.on('error', () => resolve());
    s.on('connect', () => {
      if (i % 3 === 1) s.write('POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"mod');
      if (i % 3 === 2) s.write('GET /health HTTP/1.1\r\n');
      setTimeout(() => { if (i % 2) s.resetAndDestroy(); else s.destroy(); resolve(); }, 5);
    });
  });
  for (let batch = 0; batch < 50; batch++) await Promise.all(Array.from({ length: 200 }, (_, i) => open(batch * 200 + i)));
  assert.equal((await post(gw.base, chatBody('f-ok_json'))).status, 200);
  let fd1 = 0;
  assert.ok(await waitFor(() => (fd1 = fdCount(gw.proc.pid)) <= fd0 + 2, 5000), `fds back to baseline (${fd0} -> ${fd1})`);
});

test('invalid UTF-8 in a JSON string -> 200 (bytes passed through) or 400, never a crash', async () => {
  const body = Buffer.concat([Buffer.from('{"model":"f-echo","messages":[{"role":"user","content":"bad \xff\xfe '), Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}]}')]);
  const r = await fetch(gw.base + '/v1/chat/completions', { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` } });
  assert.ok([200, 400].includes(r.status), `got ${r.status}`);
  await r.arrayBuffer();
});

test('deeply nested JSON (depth 10,000) -> 400 invalid_json', async () => {
  const deep = '{"model":"f-ok_json","messages":[{"role":"user","content":"x"}],"x":' + '['.repeat(10000) + ']'.repeat(10000) + '}';
  const r = await post(gw.base, deep);
  assert.equal(r.status, 400);
  assertOpenAIError(assert, r.json, 'invalid_request_error', 'invalid_json');
  const deepObj = '{"a":'.repeat(10000) + '1' + '}'.repeat(10000);
  const r2 = await post(gw.base, deepObj);
  assert.equal(r2.status, 400);
});

test('numbers out of range (1e999, -1e999, 1e20, -0, 1e-400) -> 200 or 400, never a crash', async () => {
  for (const [k, v] of [['max_tokens', '1e999'], ['max_tokens', '-1e999'], ['temperature', '1e308'], ['n', '1e20'], ['max_completion_tokens', '-0'],
    ['top_p', '1e-400'], ['max_tokens', '18446744073709551617'], ['seed', '-9223372036854775809']]) {
    const body = `{"model":"f-ok_json","messages":[{"role":"user","content":"n"}],"${k}":${v}}`;
    const r = await post(gw.base, body);
    assert.ok([200, 400].includes(r.status), `${k}=${v}: got ${r.status}`);
    if (r.status === 400) assertOpenAIError(assert, r.json, 'invalid_request_error');
  }
  assert.equal((await fetch(gw.base + '/health')).status, 200);
});

test('unknown fields are passed through to the upstream unchanged', async () => {
  const r = await post(gw.base, JSON.stringify({ model: 'f-echo', messages: [{ role: 'user', content: 'u' }], x_vendor_field: { a: [1, 2, { b: null }] }, logit_bias: { 42: -100 } }));
  assert.equal(r.status, 200);
  const seen = up.last('echo').json;
  assert.deepEqual(seen.x_vendor_field, { a: [1, 2, { b: null }] });
  assert.deepEqual(seen.logit_bias, { 42: -100 });
});

test('duplicate "model" keys: the upstream must not serve a different model than the one priced and authorised', async () => {
    // the gateway resolves (and bills) the first "model"; an upstream JSON parser keeps the last one
    const n = up.requests.length;
    await post(gw.base, '{"model":"f-echo","model":"gpt-4-very-expensive","messages":[{"role":"user","content":"d"}]}');
    assert.equal(up.requests.length, n + 1, 'routed upstream (to the first model\'s deployment)');
    assert.equal(up.requests.at(-1).scenario, 'echo', 'upstream (last-wins JSON) sees the gateway-chosen model');
  });

test('an escaped "model" key is rewritten like a plain one', async () => {
    const n = up.requests.length;
    await post(gw.base, '{"mod\\u0065l":"f-echo","messages":[{"role":"user","content":"e"}]}');
    assert.equal(up.requests.length, n + 1);
    assert.equal(up.requests.at(-1).scenario, 'echo', 'upstream sees the deployment model id, not the public name');
  });

test('after the hostile clients: still serving, no fd leak, RSS bounded', async () => {
  assert.equal((await post(gw.base, chatBody('f-ok_json'))).status, 200);
  let fd1 = 0;
  await waitFor(() => (fd1 = fdCount(gw.proc.pid)) <= fd0 + 2, 5000);
  const rss1 = rssKb(gw.proc.pid);
  console.log(`# hostile clients: fds ${fd0} -> ${fd1}, RSS ${rss0} kB -> ${rss1} kB`);
  assert.ok(fd1 <= fd0 + 2, `fds ${fd0} -> ${fd1}`);
  assert.ok(rss1 < rss0 + 128 * 1024, `RSS ${rss0} -> ${rss1} kB`);
});
