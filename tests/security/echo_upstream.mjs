// echo_upstream.mjs — a hostile upstream that echoes the credential it was
// sent (Authorization: Bearer, x-api-key, x-goog-api-key, api-key, ?key=) in
// every field and position of its replies, speaking OpenAI, Anthropic or
// Gemini depending on the path it is called on. Loopback only; stop() ends
// every socket.
//
// The scenario is the upstream model (request body `model`, or the Gemini
// path's /models/<name>:…):
//   err_fields   400, the credential as error.message/type/code/param/status
//   err_escaped  400, the credential written with JSON \\u escapes in error.message/code
//   err_padded   401, the credential at the end of a ~1 KiB message (a cut
//                at the gateway's message capacity falls inside it)
//   err_text     500, a text/plain body with the credential across the 200th byte
//   err_in_ok    200 with an error object and no choices
//   ok_echo      200, the credential in id, model and the generated text
//   stream_echo  a stream whose text carries the credential split across two
//                TCP writes, then an in-band error event echoing it
//   ctype        a stream request answered with the credential in the content-type
import http from 'node:http';

export const SCENARIOS = ['err_fields', 'err_escaped', 'err_padded', 'err_text', 'err_in_ok', 'ok_echo', 'stream_echo', 'ctype'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function credentialOf(req, url) {
  const h = req.headers;
  if (h.authorization) return h.authorization.replace(/^Bearer\s+/i, '');
  return h['x-api-key'] || h['x-goog-api-key'] || h['api-key'] || url.searchParams.get('key') || '';
}

// Writes s in two TCP writes, cut inside the credential.
async function writeSplit(res, s, cred) {
  const at = s.indexOf(cred);
  const cut = at < 0 ? s.length >> 1 : at + (cred.length >> 1);
  res.write(s.slice(0, cut));
  await sleep(30);
  res.write(s.slice(cut));
  await sleep(10);
}

export async function startEcho() {
  const sockets = new Set();
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => serve(req, res, body).catch(() => res.destroy()));
  });
  server.on('connection', (s) => { s.setNoDelay(true); sockets.add(s); s.on('close', () => sockets.delete(s)); });

  async function serve(req, res, body) {
    const url = new URL(req.url, 'http://x');
    let json = {};
    try { json = JSON.parse(body); } catch { /* not json */ }
    const proto = url.pathname.endsWith('/messages') ? 'anthropic' : url.pathname.includes('/models/') ? 'gemini' : 'openai';
    const scenario = proto === 'gemini' ? (url.pathname.match(/\/models\/([^:/]+)/) || [])[1] : json.model;
    const c = credentialOf(req, url);
    requests.push({ proto, scenario, path: req.url, headers: req.headers });
    const echo = `Incorrect API key provided: Bearer ${c} (x-api-key: ${c}, x-goog-api-key: ${c}, url ?key=${c})`;
    const send = (status, obj, ctype = 'application/json') => {
      const b = typeof obj === 'string' ? obj : JSON.stringify(obj);
      res.writeHead(status, { 'content-type': ctype, 'content-length': Buffer.byteLength(b) });
      res.end(b);
    };
    const errObj = (message) => ({ type: 'error', error: { message, type: c, code: c, param: c, status: c, details: [{ reason: c }] } });
    switch (scenario) {
      case 'err_fields': return send(400, errObj(echo));
      case 'err_escaped': {
        const u = [...c].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
        return send(400, `{"error":{"message":"key ${u} rejected","type":"invalid_request_error","code":"${u}"}}`);
      }
      case 'err_padded': return send(401, errObj('p'.repeat(1023 - c.length + 1) + c));
      case 'err_text': return send(500, `${'t'.repeat(200 - (c.length >> 1))}${c} trailing debug`, 'text/plain');
      case 'err_in_ok': return send(200, errObj(echo));
      case 'ctype': return send(200, { id: 'x' }, `application/json; charset=${c}`);
      case 'ok_echo':
        if (proto === 'anthropic')
          return send(200, { id: `msg_${c}`, type: 'message', role: 'assistant', model: c, content: [{ type: 'text', text: echo }],
            stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 4 } });
        if (proto === 'gemini')
          return send(200, { candidates: [{ content: { role: 'model', parts: [{ text: echo }] }, finishReason: 'STOP' }],
            usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 }, modelVersion: c });
        return send(200, { id: c, object: 'chat.completion', created: 1, model: c,
          choices: [{ index: 0, message: { role: 'assistant', content: echo }, text: echo, finish_reason: 'stop' }],
          data: [{ object: 'embedding', index: 0, embedding: [0.1] }], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
      case 'stream_echo': {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (proto === 'anthropic') {
          res.write(`event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], usage: { input_tokens: 3, output_tokens: 0 } } })}\n\n`);
          res.write(`event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })}\n\n`);
          await writeSplit(res, `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: echo } })}\n\n`, c);
          await writeSplit(res, `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: echo } })}\n\n`, c);
        } else if (proto === 'gemini') {
          await writeSplit(res, `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: echo }] } }] })}\n\n`, c);
          await writeSplit(res, `data: ${JSON.stringify({ error: { code: 500, message: echo, status: 'INTERNAL' } })}\n\n`, c);
        } else {
          await writeSplit(res, `data: ${JSON.stringify({ id: c, object: 'chat.completion.chunk', created: 1, model: c, choices: [{ index: 0, delta: { content: echo } }] })}\n\n`, c);
          await writeSplit(res, `data: ${JSON.stringify(errObj(echo))}\n\n`, c);
        }
        return res.end();
      }
      default: return send(404, { error: { message: `unknown scenario ${scenario}` } });
    }
  }

  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port, requests,
    async stop() { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}
