// flaky_upstream.mjs — a scriptable, misbehaving OpenAI-compatible upstream
// written on raw `net` sockets (so it can lie about framing, reset, stall and
// split bytes anywhere). Loopback only; every timer and socket is tracked and
// torn down by stop(), so a test run is bounded.
//
// The scenario is the request's "model" field, i.e. the deployment's upstream
// model id in the gateway config (the fast path rewrites "model" to it), so
// every scenario gets its own health record in the gateway's router.
// Every request is recorded: { scenario, method, path, headers, body, json,
// closed, closedAt, t }.
import net from 'node:net';
import zlib from 'node:zlib';

const CRLF = '\r\n';

export function chunkObj(content, extra = {}) {
  return { id: 'chatcmpl-flaky', object: 'chat.completion.chunk', created: 1700000000, model: 'flaky-1',
    choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: null }], ...extra };
}
export const finalChunk = () => ({ id: 'chatcmpl-flaky', object: 'chat.completion.chunk', created: 1700000000,
  model: 'flaky-1', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
export const usageChunk = (p = 7, c = 3) => ({ id: 'chatcmpl-flaky', object: 'chat.completion.chunk',
  created: 1700000000, model: 'flaky-1', choices: [], usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c } });
export const completion = (text = 'hello from flaky', usage = { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 }) => ({
  id: 'chatcmpl-flaky', object: 'chat.completion', created: 1700000000, model: 'flaky-1',
  choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage });
const ev = (o) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`;

export async function startFlaky() {
  const sockets = new Set();
  const timers = new Set();
  const requests = [];
  const later = (ms, fn) => { const t = setTimeout(() => { timers.delete(t); fn(); }, ms); timers.add(t); return t; };
  const sleep = (ms) => new Promise((r) => later(ms, r));

  function head(sock, status, reason, headers = {}) {
    let h = `HTTP/1.1 ${status} ${reason}${CRLF}`;
    for (const [k, v] of Object.entries({ Connection: 'close', ...headers })) h += `${k}: ${v}${CRLF}`;
    sock.write(h + CRLF);
  }
  function json(sock, status, obj, headers = {}, reason = 'X') {
    const body = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj));
    head(sock, status, reason, { 'Content-Type': 'application/json', 'Content-Length': body.length, ...headers });
    sock.end(body);
  }
  const sseHead = (sock, extra = {}) => head(sock, 200, 'OK', { 'Content-Type': 'text/event-stream', ...extra });
  const alive = (sock) => !sock.destroyed;

  // scenario -> async (sock, rec)
  const S = {
    ok_json: (s) => json(s, 200, completion()),
    ok_stream: (s) => { sseHead(s); s.end(ev(chunkObj('hello ')) + ev(chunkObj('world')) + ev(finalChunk()) + ev(usageChunk()) + ev('[DONE]')); },
    reset_before_headers: (s) => s.resetAndDestroy(),
    reset_mid_stream: async (s) => { sseHead(s); s.write(ev(chunkObj('partial '))); await sleep(100); if (alive(s)) s.resetAndDestroy(); },
    stall_first_byte: () => { /* never answer; the gateway must time out and close */ },
    stall_mid_stream: (s) => { sseHead(s); s.write(ev(chunkObj('before the stall'))); },
    trickle: async (s, rec) => {
      sseHead(s);
      const prefix = ':ab\n'.slice(0, Number(rec.json.trickle_bytes ?? 4)); // comment bytes, 1 per second
      for (const b of prefix) { if (!alive(s)) return; s.write(b); await sleep(1000); }
      if (alive(s)) s.end((prefix.endsWith('\n') ? '' : '\n') + ev(chunkObj('trickled')) + ev(finalChunk()) + ev('[DONE]'));
    },
    trickle_json: async (s) => {
      const body = Buffer.from(JSON.stringify(completion('slow body')));
      head(s, 200, 'OK', { 'Content-Type': 'application/json', 'Content-Length': body.length });
      for (let i = 0; i < 3; i++) { if (!alive(s)) return; s.write(body.subarray(i, i + 1)); await sleep(1000); }
      if (alive(s)) s.end(body.subarray(3));
    },
    sse_invalid: (s) => {
      sseHead(s);
      s.end('data: this is not json\n\n' + 'a line without a colon\n\n' + 'data:{"choices":[{"index":0,"delta":{"content":"still ok"}}]}\n\n'
        + 'data: {"choices": [ {"index": 0, "delta": {"content": "\u0000"}}\n\n' + ev('[DONE]'));
    },
    sse_oversized: (s) => { sseHead(s); s.write(ev(chunkObj('small '))); s.write('data: "' + 'x'.repeat(200 * 1024) + '"\n\n'); },
    sse_unterminated: (s) => { sseHead(s); s.end(ev(chunkObj('complete ')) + 'data: {"choices":[{"delta":{"content":"cut'); },
    sse_ping_event: (s) => {
      sseHead(s);
      s.end(': ping\n\n' + 'event: message\n' + ev(chunkObj('pinged ')) + ': ping\n\nretry: 100\nid: 9\n' + ev(chunkObj('events'))
        + 'event: completion\nid: 10\n' + ev(finalChunk()) + ev(usageChunk()) + ev('[DONE]'));
    },
    usage_only_final: (s) => { sseHead(s); s.end(ev(chunkObj('metered')) + ev(finalChunk()) + ev(usageChunk(11, 2)) + ev('[DONE]')); },
    utf8_split: async (s) => {
      // chunked transfer encoding, each TCP write cutting a multi-byte character
      head(s, 200, 'OK', { 'Content-Type': 'text/event-stream', 'Transfer-Encoding': 'chunked' });
      const bytes = Buffer.from(ev(chunkObj('héllo wörld ')) + ev(chunkObj('日本語 🎉 ✓')) + ev(finalChunk()) + ev('[DONE]'));
      const cuts = [];
      for (let i = 1; i < bytes.length; i++) if ((bytes[i] & 0xc0) === 0x80 && (bytes[i - 1] & 0xc0) !== 0x80) cuts.push(i);
      let prev = 0;
      for (const c of [...cuts, bytes.length]) {
        if (!alive(s)) return;
        const piece = bytes.subarray(prev, c);
        s.write(piece.length.toString(16) + CRLF);
        s.write(Buffer.concat([piece, Buffer.from(CRLF)]));
        prev = c;
        await sleep(15);
      }
      if (alive(s)) s.end('0' + CRLF + CRLF);
    },
    gzip_lie: (s) => json(s, 200, completion('plain despite gzip'), { 'Content-Encoding': 'gzip' }),
    gzip_real: (s) => {
      const body = zlib.gzipSync(Buffer.from(JSON.stringify(completion('really gzipped'))));
      head(s, 200, 'OK', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Content-Length': body.length });
      s.end(body);
    },
    rate_limited2: (s) => S.rate_limited(s),
    rate_limited: (s) => json(s, 429, { error: { message: 'Rate limit reached for flaky-1: slow down', type: 'requests', code: 'rate_limit_exceeded' } },
      { 'Retry-After': '7' }, 'Too Many Requests'),
    storm_5xx: (s, rec) => {
      const st = [500, 502, 503][rec.seq % 3];
      json(s, st, { error: { message: `flaky internal error ${st}`, type: 'server_error' } }, {}, 'Err');
    },
    wrong_ctype: (s) => {
      const body = '<html><body>502 Bad Gateway (nginx)</body></html>';
      head(s, 200, 'OK', { 'Content-Type': 'text/html', 'Content-Length': body.length });
      s.end(body);
    },
    error_body_200: (s) => json(s, 200, { error: { message: 'model overloaded, try later', type: 'server_error', code: 'overloaded' } }),
    absurd_usage: (s, rec) => {
      if (rec.json.stream) { sseHead(s); s.end(ev(chunkObj('x')) + ev({ ...usageChunk(), usage: { prompt_tokens: -5e6, completion_tokens: 1e300, total_tokens: 1 } }) + ev('[DONE]')); return; }
      json(s, 200, completion('x', { prompt_tokens: -5000000, completion_tokens: 1e300, total_tokens: -1 }));
    },
    slow_ok: async (s, rec) => { await sleep(Number(rec.json.delay_ms ?? 300)); if (alive(s)) json(s, 200, completion('slow ok')); },
    slow_stream: async (s, rec) => {
      sseHead(s);
      const n = Number(rec.json.tokens ?? 20), gap = Number(rec.json.gap_ms ?? 50);
      for (let i = 0; i < n; i++) { if (!alive(s)) return; s.write(ev(chunkObj(`t${i} `))); await sleep(gap); }
      if (alive(s)) s.end(ev(finalChunk()) + ev(usageChunk(5, n)) + ev('[DONE]'));
    },
    leak_auth: (s, rec) => json(s, 401, { error: { message: `Incorrect API key provided: ${rec.headers.authorization}. You can find your API key at https://platform.example/account/api-keys.`, type: 'invalid_request_error', code: 'invalid_api_key' } }, {}, 'Unauthorized'),
    leak_auth_500: (s, rec) => json(s, 500, { error: { message: `upstream debug: received headers ${JSON.stringify(rec.headers)}`, type: 'server_error' } }),
    echo: (s, rec) => json(s, 200, completion(rec.body)),
  };

  let seq = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    let buf = Buffer.alloc(0), handled = false, continued = false;
    sock.on('data', (d) => {
      if (handled) return;
      buf = Buffer.concat([buf, d]);
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const lines = buf.subarray(0, he).toString('latin1').split(CRLF);
      const [method, path] = lines[0].split(' ');
      const headers = {};
      for (const l of lines.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
      if (/100-continue/i.test(headers.expect || '') && !continued) { continued = true; sock.write('HTTP/1.1 100 Continue\r\n\r\n'); }
      const cl = Number(headers['content-length'] || 0);
      if (buf.length - he - 4 < cl) return;
      handled = true;
      const body = buf.subarray(he + 4, he + 4 + cl).toString('utf8');
      let j = {};
      try { j = JSON.parse(body); } catch { /* recorded raw */ }
      const rec = { seq: seq++, scenario: String(j.model || ''), method, path, headers, body, json: j, closed: false, t: Date.now() };
      sock.on('close', () => { rec.closed = true; rec.closedAt = Date.now(); });
      requests.push(rec);
      const fn = S[rec.scenario] || ((s) => json(s, 404, { error: { message: `no scenario '${rec.scenario}'`, type: 'invalid_request_error' } }));
      Promise.resolve(fn(sock, rec)).catch(() => {});
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    scenarios: Object.keys(S),
    requests,
    openSockets: () => sockets.size,
    last: (scenario) => [...requests].reverse().find((r) => r.scenario === scenario),
    async stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

// A port with nothing listening (connection refused).
export async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}
