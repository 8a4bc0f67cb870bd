// recording_server.mjs — the plumbing of the recording fakes
// (anthropic_fake.mjs, gemini_fake.mjs): a loopback HTTP server that reads
// each request whole, records it (method, url, headers, rawHeaders — to count
// repeated headers —, raw body, parsed JSON body or null, arrival number
// seq) and hands it to answer(rec, res).
import http from 'node:http';

export async function startRecordingServer(answer) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      try { body = JSON.parse(raw); } catch { /* recorded as is */ }
      const rec = { method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, raw, body, reply: null };
      requests.push(rec);
      rec.seq = requests.length; // 1-based arrival number
      answer(rec, res);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, requests, close: () => new Promise((r) => server.close(r)) };
}
