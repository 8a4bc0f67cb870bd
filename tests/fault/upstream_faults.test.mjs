// upstream_faults.test.mjs — the gateway in front of a misbehaving upstream
// (flaky_upstream.mjs). Each test states the expected behaviour and asserts
// it: a clear error in the client's (OpenAI) format with the right status,
// no hang (every request is bounded), and the upstream connection released.
// After the suite: no fd leak and bounded RSS in the gateway process.
// Provider timeouts: connect 500 ms, first byte 1500 ms, idle 1500 ms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultRig, fdCount, rssKb, post, postStream, chatBody, assertOpenAIError, waitFor, sleep } from './common.mjs';

let rig, up, gw, fd0, rss0;
before(async () => {
  rig = await startFaultRig();
  ({ up, gw, fd0, rss0 } = rig);
});
after(() => rig.stop());

// The upstream socket of the last request of a scenario gets closed (released).
async function released(scenario, ms = 2500) {
  const rec = up.last(scenario);
  assert.ok(rec, `upstream saw a request for ${scenario}`);
  assert.ok(await waitFor(() => rec.closed, ms), `gateway released the upstream connection (${scenario})`);
}

test('baseline: non-stream and stream succeed', async () => {
  const r = await post(gw.base, chatBody('f-ok_json'));
  assert.equal(r.status, 200);
  assert.equal(r.json.choices[0].message.content, 'hello from flaky');
  assert.ok(r.json.usage.cost > 0);
  const s = await postStream(gw.base, 'f-ok_stream');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'hello world');
  assert.ok(s.done);
});

test('connection refused -> 502 api_error upstream_unavailable, fast', async () => {
  const r = await post(gw.base, chatBody('f-refused'));
  assert.equal(r.status, 502);
  assertOpenAIError(assert, r.json, 'api_error', 'upstream_unavailable');
  assert.ok(r.ms < 3000, `bounded (${r.ms} ms)`);
  const s = await postStream(gw.base, 'f-refused');
  assert.equal(s.status, 502, 'a stream that never started gets a real status, not 200');
});

test('reset before headers -> 502 upstream_unavailable', async () => {
  const r = await post(gw.base, chatBody('f-reset_before_headers'));
  assert.equal(r.status, 502);
  assertOpenAIError(assert, r.json, 'api_error', 'upstream_unavailable');
  const s = await postStream(gw.base, 'f-reset_before_headers');
  assert.equal(s.status, 502);
});

test('reset mid-stream -> 200 then an in-band api_error event, no [DONE]', async () => {
  const s = await postStream(gw.base, 'f-reset_mid_stream');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'partial ');
  assert.equal(s.done, false, 'no [DONE] after a failure');
  const last = s.json.at(-1);
  assertOpenAIError(assert, last, 'api_error', 'upstream_error');
  await released('reset_mid_stream');
});

test('stall before the first byte -> 504 timeout_error after first_byte_ms; connection closed', async () => {
  const r = await post(gw.base, chatBody('f-stall_first_byte'));
  assert.equal(r.status, 504);
  assertOpenAIError(assert, r.json, 'timeout_error', 'upstream_timeout');
  assert.ok(r.ms >= 1400 && r.ms < 4000, `timed out near first_byte_ms (${r.ms} ms)`);
  await released('stall_first_byte');
  const s = await postStream(gw.base, 'f-stall_first_byte');
  assert.equal(s.status, 504, 'a stream stalled before its first byte gets 504');
  await released('stall_first_byte');
});

test('stall mid-stream -> in-band timeout_error after idle_ms; connection closed', async () => {
  const s = await postStream(gw.base, 'f-stall_mid_stream');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'before the stall');
  assert.equal(s.done, false);
  assertOpenAIError(assert, s.json.at(-1), 'timeout_error', 'upstream_timeout');
  assert.ok(s.ms >= 1400 && s.ms < 4500, `idle timeout (${s.ms} ms)`);
  await released('stall_mid_stream');
});

test('trickle 1 byte/s inside idle_ms: neither the non-stream body nor the stream is cut', async () => {
  const r = await post(gw.base, chatBody('f-trickle_json'));
  assert.equal(r.status, 200, 'a body trickled at 1 byte/s completes');
  assert.equal(r.json.choices[0].message.content, 'slow body');
  assert.ok(r.ms >= 2500, `took the trickle's time (${r.ms} ms)`);
  const s = await postStream(gw.base, 'f-trickle', { trickle_bytes: 2 });
  assert.equal(s.status, 200);
  assert.equal(s.text, 'trickled');
  assert.ok(s.done);
});

test('a stream silent toward the client for longer than client_timeout_ms (upstream sends only `: ping`) is not cut', async () => {
    // upstream: headers, then ":ab\n" at 1 byte/s (4 s of keep-alive comments the gateway drops), then content
    const s = await postStream(gw.base, 'f-trickle', { trickle_bytes: 4 });
    assert.equal(s.status, 200);
    assert.equal(s.text, 'trickled');
    assert.ok(s.done);
  });

test('invalid SSE lines: forwarded or dropped, never a crash; the stream ends with [DONE]', async () => {
  const s = await postStream(gw.base, 'f-sse_invalid');
  assert.equal(s.status, 200);
  assert.ok(s.done);
  assert.match(s.raw, /still ok/);
  assert.doesNotMatch(s.raw, /a line without a colon/, 'a field line without data is not an event');
});

test('oversized SSE event -> in-band upstream_event_too_large, no [DONE], connection closed', async () => {
  const s = await postStream(gw.base, 'f-sse_oversized');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'small ');
  assert.equal(s.done, false);
  assertOpenAIError(assert, s.json.at(-1), 'api_error', 'upstream_event_too_large');
  assert.ok(s.raw.length < 64 * 1024, 'the oversized event is not relayed');
  await released('sse_oversized');
});

test('unterminated SSE at EOF: the partial event is discarded, the stream is closed with [DONE]', async () => {
  const s = await postStream(gw.base, 'f-sse_unterminated');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'complete ');
  assert.ok(s.done);
  assert.doesNotMatch(s.raw, /cut/);
});

test(': ping comments, event:/id:/retry: fields -> content intact; only data lines and the gateway\'s own keep-alive relayed', async () => {
  const s = await postStream(gw.base, 'f-sse_ping_event');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'pinged events');
  assert.ok(s.done);
  for (const line of s.raw.split('\n'))
    assert.ok(line === '' || line.startsWith('data: ') || line === ': keepalive', `only data lines relayed, got ${JSON.stringify(line)}`);
  assert.match(s.raw, /^: keepalive$/m, 'upstream keep-alives are turned into the gateway\'s own');
});

test('usage-only final chunk (choices: []): stripped when the gateway injected include_usage, kept with cost when asked', async () => {
  const a = await postStream(gw.base, 'f-usage_only_final');
  assert.equal(a.text, 'metered');
  assert.equal(a.json.filter((c) => Array.isArray(c.choices) && c.choices.length === 0).length, 0);
  const up1 = up.last('usage_only_final');
  assert.deepEqual(up1.json.stream_options, { include_usage: true }, 'usage requested upstream for metering');
  const b = await postStream(gw.base, 'f-usage_only_final', { stream_options: { include_usage: true } });
  const u = b.json.find((c) => c.usage);
  assert.ok(u && u.choices.length === 0, 'client asked: the usage chunk is relayed');
  assert.equal(u.usage.prompt_tokens, 11);
  assert.ok(u.usage.cost > 0, 'with usage.cost');
});

test('chunks split mid-UTF-8 (chunked encoding, 1 char per write) -> text reassembled exactly', async () => {
  const s = await postStream(gw.base, 'f-utf8_split');
  assert.equal(s.status, 200);
  assert.equal(s.text, 'héllo wörld 日本語 🎉 ✓');
  assert.ok(s.done);
});

test('content-encoding: gzip lie (plain body) -> 200, bytes passed through, no gzip claim to the client', async () => {
  const r = await post(gw.base, chatBody('f-gzip_lie'));
  assert.equal(r.status, 200);
  assert.equal(r.json.choices[0].message.content, 'plain despite gzip');
  assert.notEqual(r.headers.get('content-encoding'), 'gzip');
});

test('real gzip body (never asked for) -> 502 upstream_invalid_json, not garbage', async () => {
  const r = await post(gw.base, chatBody('f-gzip_real'));
  assert.equal(r.status, 502);
  assertOpenAIError(assert, r.json, 'api_error', 'upstream_invalid_json');
});

test('429 with retry-after -> 429 rate_limit_error, upstream message preserved, Retry-After passed on', async () => {
  const r = await post(gw.base, chatBody('f-rate_limited'));
  assert.equal(r.status, 429);
  assertOpenAIError(assert, r.json, 'rate_limit_error');
  assert.match(r.json.error.message, /slow down/);
  // while the deployment cools down the gateway answers 429 itself, with the wait
  const r2 = await post(gw.base, chatBody('f-rate_limited'));
  assert.equal(r2.status, 429);
  assertOpenAIError(assert, r2.json, 'rate_limit_error');
  assert.ok(Number(r2.headers.get('retry-after')) > 0, 'the cooldown answer carries Retry-After');
  assert.equal(up.requests.filter((q) => q.scenario === 'rate_limited').length, 1, 'the cooling deployment is not called again');
});

test('the upstream 429 itself passes its Retry-After on to the client', async () => {
    const r = await post(gw.base, chatBody('f-rate_limited2'));
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0, `Retry-After header (got ${r.headers.get('retry-after')})`);
  });

test('5xx storm (40 requests, 8 at a time) -> every answer a 5xx in OpenAI shape, bounded, gateway healthy after', async () => {
  const statuses = {};
  const t0 = Date.now();
  for (let round = 0; round < 5; round++) {
    const rs = await Promise.all(Array.from({ length: 8 }, () => post(gw.base, chatBody('f-storm_5xx'))));
    for (const r of rs) {
      assert.ok(r.status >= 500 && r.status <= 504, `5xx (got ${r.status})`);
      assertOpenAIError(assert, r.json);
      statuses[r.status] = (statuses[r.status] || 0) + 1;
    }
  }
  assert.ok(Date.now() - t0 < 20000, 'bounded');
  const ok = await post(gw.base, chatBody('f-ok_json'));
  assert.equal(ok.status, 200, 'other models unaffected by the storm');
  console.log(`# 5xx storm statuses: ${JSON.stringify(statuses)}`);
});

test('wrong content-type: stream request answered with text/html -> 502 upstream_not_streaming; non-stream -> 502 upstream_invalid_json', async () => {
  const s = await postStream(gw.base, 'f-wrong_ctype');
  assert.equal(s.status, 502);
  assertOpenAIError(assert, JSON.parse(s.raw), 'api_error', 'upstream_not_streaming');
  const r = await post(gw.base, chatBody('f-wrong_ctype'));
  assert.equal(r.status, 502);
  assertOpenAIError(assert, r.json, 'api_error', 'upstream_invalid_json');
});

test('a 200 with an error body -> 502 with the upstream message, not a billed "success"', async () => {
  const r = await post(gw.base, chatBody('f-error_body_200'));
  assert.equal(r.status, 502);
  assertOpenAIError(assert, r.json);
  assert.match(r.json.error.message, /overloaded/);
});

test('absurd usage numbers (negative, 1e300) never produce a negative cost or a crash', async () => {
  const r = await post(gw.base, chatBody('f-absurd_usage'));
  assert.equal(r.status, 200);
  assert.ok(r.json.usage.cost >= 0, `cost ${r.json.usage.cost}`);
  const s = await postStream(gw.base, 'f-absurd_usage', { stream_options: { include_usage: true } });
  assert.equal(s.status, 200);
  const u = s.json.find((c) => c.usage);
  assert.ok(u.usage.cost >= 0, `stream cost ${u.usage.cost}`);
});

test('client abort mid-stream cancels the upstream request', async () => {
  const ac = new AbortController();
  const res = await fetch(gw.base + '/v1/chat/completions', {
    method: 'POST', signal: ac.signal,
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-gaterouter-test-key-0001' },
    body: chatBody('f-slow_stream', { stream: true, tokens: 200, gap_ms: 50 }),
  });
  const reader = res.body.getReader();
  await reader.read();
  ac.abort();
  await released('slow_stream', 2000);
  const rec = up.last('slow_stream');
  assert.ok(rec.closedAt - rec.t < 5000, 'upstream closed long before the 10 s stream would have ended');
});

test('after the suite: no fd leak, RSS bounded, no upstream socket left open', async () => {
  await waitFor(() => up.openSockets() === 0, 3000);
  assert.equal(up.openSockets(), 0, 'every upstream connection was released');
  let fd1 = 0;
  await waitFor(() => (fd1 = fdCount(gw.proc.pid)) <= fd0 + 2, 3000);
  const rss1 = rssKb(gw.proc.pid);
  console.log(`# fault suite: fds ${fd0} -> ${fd1}, RSS ${rss0} kB -> ${rss1} kB`);
  assert.ok(fd1 <= fd0 + 2, `fd count back to baseline (${fd0} -> ${fd1})`);
  assert.ok(rss1 < rss0 + 64 * 1024, `RSS growth < 64 MiB (${rss0} -> ${rss1} kB)`);
});
