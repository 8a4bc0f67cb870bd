// gemini_fake.mjs — a recording upstream that speaks Google's Gemini API wire
// format: POST /v1beta/models/<m>:generateContent, :streamGenerateContent?alt=sse
// (one `data: <GenerateContentResponse>` event per part, CRLF-framed as Google
// sends them, the last one carrying finishReason and usageMetadata),
// :embedContent and :batchEmbedContents. Every request is recorded (method,
// url, headers, rawHeaders, raw body, parsed body). `script(rec, body)` returns
// the GenerateContentResponse (or the embed response) to answer with, or
// { status, body } for an error.
import { startRecordingServer } from './recording_server.mjs';

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
  return startRecordingServer((rec, res) => {
    const answer = script(rec, rec.body);
    if (answer.status) {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(answer.body));
    }
    const stream = rec.url.includes(':streamGenerateContent');
    res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json; charset=UTF-8' });
    res.end(stream ? streamBytes(answer) : JSON.stringify(answer));
  });
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
