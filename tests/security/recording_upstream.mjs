// recording_upstream.mjs — a fake OpenAI-compatible upstream for the security
// suites: it records every request it receives (path, headers, raw body,
// parsed JSON) and answers by the upstream model id the gateway sent, so one
// upstream can play a healthy model, a failing one and a model that refuses
// the prompt. Loopback only; stop() closes every socket.
import http from 'node:http';

// Upstream model id -> how it answers. Anything else answers 200 "ok".
const ERRORS = {
  fail500: [500, { error: { message: 'upstream is broken', type: 'server_error', code: null } }],
  ctx400: [400, { error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }],
  filter400: [400, { error: { message: 'The response was filtered due to the prompt triggering the content management policy.',
    type: 'invalid_request_error', param: 'prompt', code: 'content_filter' } }],
  bad422: [422, { error: { message: 'Unprocessable: temperature must be <= 2', type: 'invalid_request_error', code: null } }],
  ctx500: [500, { error: { message: "This model's maximum context length is 4096 tokens; the prompt is too long.",
    type: 'invalid_request_error', code: 'context_length_exceeded' } }],
  filter500: [500, { error: { message: 'Output blocked by content_filter (safety).', type: 'server_error', code: 'content_filter' } }],
};

// The upstream model id the gateway asked for (Azure puts it in the path).
function modelOf(path, json) {
  const m = json && typeof json.model === 'string' ? json.model : '';
  if (m) return m;
  const az = path.match(/\/deployments\/([^/]+)\//);
  return az ? az[1] : '';
}

// The scenario: a `[[name]]` marker anywhere in the body (so one deployment
// can answer one tenant's prompts with errors and another's with 200), or
// `[[name@model]]` for that upstream model only; else the model id.
function scenarioOf(model, body) {
  for (const [, name, only] of body.matchAll(/\[\[([a-z0-9_]+)(?:@([A-Za-z0-9_.-]+))?\]\]/g))
    if (!only || only === model) return name;
  return model;
}

function completion(model, json) {
  const n = Number.isInteger(json?.n) && json.n > 0 ? json.n : 1;
  const choices = [];
  for (let i = 0; i < n; i++) choices.push({ index: i, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' });
  return { id: 'chatcmpl-rec', object: 'chat.completion', created: 1700000000, model, choices,
    usage: { prompt_tokens: 10, completion_tokens: 5 * n, total_tokens: 10 + 5 * n } };
}

export async function startRecording() {
  const requests = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try { json = JSON.parse(body); } catch { /* not JSON */ }
      const model = modelOf(req.url, json);
      const scenario = scenarioOf(model, body);
      requests.push({ method: req.method, path: req.url, headers: req.headers, body, json, model, scenario });
      const err = ERRORS[scenario];
      if (err) {
        const b = JSON.stringify(err[1]);
        res.writeHead(err[0], { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
        res.end(b);
        return;
      }
      if (req.url.endsWith('/embeddings')) {
        const b = JSON.stringify({ object: 'list', model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
          usage: { prompt_tokens: 3, total_tokens: 3 } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
        res.end(b);
        return;
      }
      if (json && json.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (o) => `data: ${JSON.stringify(o)}\n\n`;
        const base = { id: 'chatcmpl-rec', object: 'chat.completion.chunk', created: 1700000000, model };
        res.end(chunk({ ...base, choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: null }] })
          + chunk({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
          + chunk({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })
          + 'data: [DONE]\n\n');
        return;
      }
      const b = JSON.stringify(completion(model, json));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    requests,
    // Requests for one of these upstream model ids.
    to(...models) { return requests.filter((r) => models.includes(r.model)); },
    clear() { requests.length = 0; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
