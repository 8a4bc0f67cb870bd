// gemini_fake.mjs — a recording upstream that speaks Google's Gemini API wire
// format: POST /v1beta/models/<m>:generateContent, :streamGenerateContent?alt=sse
// (one `data: <GenerateContentResponse>` event per part, CRLF-framed as Google
// sends them, the last one carrying finishReason and usageMetadata),
// :embedContent and :batchEmbedContents. Every request is recorded (method,
// url, headers, rawHeaders, raw body, parsed body). `script(rec, body)` returns
// the GenerateContentResponse (or the embed response) to answer with, or
// { status, body } for an error.
import http from 'node:http';

export function streamBytes(resp) {
  const [cand] = resp.candidates;
  const { finishReason, ...candHead } = cand;
  const parts = cand.content.parts;
  let out = '';
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const c = { ...candHead, content: { role: 'model', parts: [part] } };
    if (last) c.finishReason = finishReason;
    const ev = { candidates: [c], modelVersion: resp.modelVersion, responseId: resp.responseId };
    if (last) ev.usageMetadata = resp.usageMetadata;
    out += `data: ${JSON.stringify(ev)}\r\n\r\n`;
  });
  return out;
}

export async function startGeminiFake(script) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try { body = JSON.parse(raw); } catch { /* recorded as is */ }
      const rec = { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, raw, body };
      requests.push(rec);
      const answer = script(rec, body);
      if (answer.status) {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(answer.body));
      }
      if (req.url.includes(':streamGenerateContent')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return res.end(streamBytes(answer));
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, requests, close: () => new Promise((r) => server.close(r)) };
}

// A GenerateContentResponse with one candidate.
export function generated(parts, { finishReason = 'STOP', usage } = {}) {
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason, index: 0 }],
    usageMetadata: usage || { promptTokenCount: 20, candidatesTokenCount: 5, totalTokenCount: 25 },
    modelVersion: 'gemini-2.5-flash',
    responseId: `resp_${Math.random().toString(36).slice(2, 10)}`,
  };
}
