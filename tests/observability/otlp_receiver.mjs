// otlp_receiver.mjs — stand-ins for the observability suites: an OTLP/HTTP
// receiver that decodes what the gateway exports (JSON encoding) and a
// recording OpenAI-compatible upstream that keeps the headers it was sent.
import http from 'node:http';

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// A JSON endpoint: every POST body goes through check(req, doc) and is kept;
// a body that does not parse or check is a test failure (kept in errors).
async function startCollector(path, check) {
  const bodies = [], headers = [], errors = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', () => {
      headers.push(req.headers);
      try {
        if (req.method !== 'POST' || req.url !== path) throw new Error(`unexpected ${req.method} ${req.url}`);
        if (!/^application\/json/.test(req.headers['content-type'] || '')) throw new Error(`content-type ${req.headers['content-type']}`);
        const doc = JSON.parse(data);
        check(doc);
        bodies.push(doc);
      } catch (e) { errors.push(`${e.message}: ${data.slice(0, 200)}`); }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  const port = await listen(server);
  return {
    port, bodies, headers, errors, url: `http://127.0.0.1:${port}${path}`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

async function poll(get, pred, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const got = get();
    if (pred(got) || Date.now() > end) return got;
    await new Promise((r) => setTimeout(r, 25));
  }
}

// POST /v1/traces (OTLP/JSON): spans() flattens the bodies with their resource.
export async function startOtlpReceiver() {
  const c = await startCollector('/v1/traces', (doc) => {
    if (!Array.isArray(doc.resourceSpans)) throw new Error('no resourceSpans');
  });
  return {
    ...c,
    spans() {
      const out = [];
      for (const b of c.bodies)
        for (const rs of b.resourceSpans)
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans) out.push({ ...s, resource: rs.resource, scope: ss.scope });
      return out;
    },
    waitFor(pred, ms = 5000) { return poll(() => this.spans(), pred, ms); },
  };
}

// A log-sink endpoint (POST /ingest): every JSON body kept.
export async function startJsonCollector() {
  const c = await startCollector('/ingest', () => {});
  return { ...c, waitFor: (pred, ms = 5000) => poll(() => c.bodies, pred, ms) };
}

// An OpenAI-compatible upstream: answers chat completions (status from the
// model name: "fail-500" answers 500), records every request's headers.
export async function startRecordingUpstream() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', () => {
      let body = {};
      try { body = JSON.parse(data); } catch { /* recorded as is */ }
      seen.push({ url: req.url, headers: req.headers, body });
      if (body.model === 'fail-500') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-rec', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
      }));
    });
  });
  const port = await listen(server);
  return { port, seen, baseURL: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

// A collector that accepts connections and never answers (a hung backend).
export async function startBlackHole() {
  const sockets = new Set();
  const server = http.createServer(() => { /* never answers */ });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const port = await listen(server);
  return { port, url: `http://127.0.0.1:${port}/v1/traces`, close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }) };
}

export function attrs(span) {
  const o = {};
  for (const a of span.attributes || []) {
    const v = a.value;
    o[a.key] = 'stringValue' in v ? v.stringValue : 'intValue' in v ? v.intValue : 'doubleValue' in v ? v.doubleValue : 'boolValue' in v ? v.boolValue : v;
  }
  return o;
}

