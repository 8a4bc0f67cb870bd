// slow_reader.test.mjs — a client that stops reading a fast, large stream.
// Expected: the gateway pauses the upstream once server.max_client_buffer_bytes
// (64 KiB here) is queued for the client, so its memory stays bounded however
// much the upstream could still send; when the client reads again the stream
// resumes and every byte arrives, in order, ending with [DONE]. The stream is
// far larger than the kernel's loopback socket buffers, so without the pause
// the gateway would have to hold tens of MiB. Runs against both upstream
// engines (GR_TEST_UPSTREAM_CLIENT=curl in fault_node_curl).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startGateway, freePort, repoRoot, TEST_KEY } from '../compat/harness.mjs';
import { rssKb, sleep, waitFor } from './common.mjs';

const BIN = process.env.GR_BIN || join(repoRoot, 'build', 'gaterouter');
const TOKENS = 100000; // ~25 MB of SSE
let gw, mock;

before(async () => {
  // The mock runs as its own process so the gateway's RSS is the gateway's only.
  const mockPort = await freePort();
  mock = spawn(BIN, ['mock', '--port', String(mockPort)], { stdio: 'ignore' });
  assert.ok(await waitFor(async () => (await fetch(`http://127.0.0.1:${mockPort}/mock/stats`).catch(() => ({}))).ok, 10000),
    'mock upstream starts');
  const config = (port, dir) => `
store: "sqlite://${dir}/gaterouter.db"
server:
  listen: 127.0.0.1:${port}
  workers: 1
  max_client_buffer_bytes: 64KiB
  upstream_client: ${process.env.GR_TEST_UPSTREAM_CLIENT || 'auto'}
log: { access_log: "off", level: warn }
auth:
  keys: [ { name: test, key: ${TEST_KEY} } ]
providers:
  - { name: up, kind: openai, base_url: "http://127.0.0.1:${mockPort}/v1", api_key: "sk-mock" }
models:
  - { name: mock-gpt, provider: up, model: mock-gpt-1, pricing: { input: 0.15, output: 0.60 } }
`;
  // Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
  // default), so RSS would measure the relayed volume, not what is held:
  // keep the quarantine small for this process (ignored by other builds).
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=1', 'thread_local_quarantine_size_kb=64']
    .filter(Boolean).join(':');
  gw = await startGateway({ config, env: { ASAN_OPTIONS: asan } });
});
after(async () => {
  const code = await gw.stop();
  mock.kill('SIGTERM');
  assert.equal(code, 0, `gateway exits 0 on SIGTERM:\n${gw.logs().slice(-2000)}`);
});

// Sends one streamed request on a raw socket; resolves with the socket and a
// reader that collects the raw (chunk-framed) response text.
async function openStream() {
  const body = JSON.stringify({ model: 'mock-gpt', stream: true,
    messages: [{ role: 'user', content: `flood [[mock:tokens=${TOKENS}]]` }] });
  const sock = net.connect(gw.port, '127.0.0.1');
  await once(sock, 'connect');
  const st = { sock, bytes: 0, parts: [], done: false };
  sock.on('data', (d) => {
    st.bytes += d.length;
    st.parts.push(d);
    // the chunked reply's terminator follows [DONE]
    if (d.length >= 5 && d.subarray(-5).toString() === '0\r\n\r\n') st.done = true;
  });
  sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  return st;
}

// The concatenated delta contents of a chunk-framed SSE response.
function contentOf(raw) {
  const text = raw.replace(/\r\n[0-9a-f]+\r\n/g, '');
  let out = '';
  for (const m of text.matchAll(/^data: (\{.*\})$/gm)) {
    const j = JSON.parse(m[1]);
    const c = j.choices?.[0]?.delta?.content;
    if (typeof c === 'string') out += c;
  }
  return out;
}

test('a client that stops reading a 25 MB stream: the gateway holds back (RSS bounded), then delivers every byte and [DONE]', async () => {
  // reference: the same stream read as fast as possible
  const ref = await openStream();
  assert.ok(await waitFor(() => ref.done, 60000, 20), 'reference stream completes');
  ref.sock.destroy();
  const refText = Buffer.concat(ref.parts).toString();
  const expected = contentOf(refText);
  assert.ok(expected.length > TOKENS, `reference stream carries the tokens (${expected.length} chars)`);

  const rss0 = rssKb(gw.proc.pid);
  const st = await openStream();
  const t0 = Date.now();
  assert.ok(await waitFor(() => st.bytes > 0, 20000), 'the stream starts');
  console.log(`# second stream first bytes after ${Date.now() - t0} ms`);
  st.sock.pause(); // stop reading: the kernel buffers fill, then the gateway must pause its upstream
  let peak = rss0;
  for (let i = 0; i < 20; i++) {
    await sleep(100);
    peak = Math.max(peak, rssKb(gw.proc.pid));
  }
  assert.ok(!st.done, 'the stream cannot have finished while the client was not reading');
  const growthKb = peak - rss0;
  console.log(`# slow reader: RSS ${rss0} kB -> peak ${peak} kB while paused (+${growthKb} kB), reference ${refText.length} bytes`);
  assert.ok(growthKb < 12 * 1024, `gateway RSS grew ${growthKb} kB while the client held back a ${refText.length}-byte stream`);

  st.sock.resume();
  assert.ok(await waitFor(() => st.done, 60000, 20), 'the stream completes once the client reads again');
  st.sock.destroy();
  const text = Buffer.concat(st.parts).toString();
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /data: \[DONE\]/);
  const got = contentOf(text);
  assert.equal(got.length, expected.length, 'same number of characters as the reference');
  assert.ok(got === expected, 'content identical to the reference stream, in order');
});
