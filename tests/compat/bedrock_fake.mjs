// bedrock_fake.mjs — a recording upstream that speaks AWS Bedrock Runtime's
// wire format: POST /model/{modelId}/converse (JSON), /converse-stream
// (binary application/vnd.amazon.eventstream frames), /invoke (InvokeModel:
// embeddings, Claude's Messages body) and /invoke-with-response-stream
// (Claude's events as `chunk` frames). Every request's SigV4 signature is verified
// with an implementation of its own (Node's crypto, written from the AWS
// spec, independent of the gateway's C code): a bad or stale signature, a
// wrong credential scope or a missing session token is refused with 403
// InvalidSignatureException, as AWS does — echoing the canonical request it
// expected (which holds the session token), so a test can check that nothing
// of the credentials leaks to a client. Requests are recorded (method, url,
// headers, parsed body, signature verdict).
//
// script(rec, body) answers with one of:
//   { message, stopReason, usage }                 a Converse response (streamed as events when asked)
//   { events: [...] }                              raw stream items: { event, payload } | { exception, payload }
//   { status, type, message }                      an error (x-amzn-ErrorType: type)
//   { json }                                       an InvokeModel body
import http from 'node:http';
import crypto from 'node:crypto';
import zlib from 'node:zlib';

// ---- SigV4 verification ----

const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();
const encodeRfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// Each path segment as sent, encoded once more (every service but S3).
function canonicalUri(rawPath) {
  return rawPath.split('/').map((seg) => encodeRfc3986(seg)).join('/');
}

function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  return rawQuery.split('&').filter(Boolean).map((kv) => {
    const i = kv.indexOf('=');
    const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
    return [encodeRfc3986(k), encodeRfc3986(v)];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

export function verifySigV4(req, body, creds) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, why: 'malformed Authorization header' };
  const [, akid, date, region, service, signedList, signature] = m;
  if (akid !== creds.accessKeyId) return { ok: false, why: 'unknown access key' };
  if (region !== creds.region || service !== 'bedrock') return { ok: false, why: `wrong scope ${region}/${service}` };
  const amzDate = req.headers['x-amz-date'] || '';
  if (!amzDate.startsWith(date)) return { ok: false, why: 'x-amz-date does not match the scope date' };
  const t = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (!(Math.abs(Date.now() - t) < 5 * 60 * 1000)) return { ok: false, why: 'request time too skewed' };
  const signed = signedList.split(';');
  for (const h of ['host', 'x-amz-date']) if (!signed.includes(h)) return { ok: false, why: `${h} not signed` };
  if (creds.sessionToken && (req.headers['x-amz-security-token'] !== creds.sessionToken || !signed.includes('x-amz-security-token')))
    return { ok: false, why: 'session token missing or unsigned' };
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  const canonicalHeaders = signed.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, canonicalUri(rawPath), canonicalQuery(rawQuery), canonicalHeaders, signedList, sha256hex(body)].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n');
  let k = hmac(`AWS4${creds.secretAccessKey}`, date);
  for (const part of [region, service, 'aws4_request']) k = hmac(k, part);
  const want = hmac(k, sts).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(want), Buffer.from(signature)))
    return { ok: false, why: 'signature mismatch', canonical, sts };
  return { ok: true, canonical };
}

// ---- event-stream frames ----

function header(name, value) {
  const n = Buffer.from(name), v = Buffer.from(value);
  const b = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
  b[0] = n.length; n.copy(b, 1); b[1 + n.length] = 7; b.writeUInt16BE(v.length, 2 + n.length); v.copy(b, 4 + n.length);
  return b;
}

export function frame(headers, payload) {
  const hb = Buffer.concat(headers.map(([k, v]) => header(k, v)));
  const pb = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const total = 12 + hb.length + pb.length + 4;
  const msg = Buffer.alloc(total);
  msg.writeUInt32BE(total, 0); msg.writeUInt32BE(hb.length, 4); msg.writeUInt32BE(zlib.crc32(msg.subarray(0, 8)), 8);
  hb.copy(msg, 12); pb.copy(msg, 12 + hb.length);
  msg.writeUInt32BE(zlib.crc32(msg.subarray(0, total - 4)), total - 4);
  return msg;
}

const eventFrame = (type, payload) => frame([[':event-type', type], [':content-type', 'application/json'], [':message-type', 'event']], payload);
const exceptionFrame = (type, payload) => frame([[':exception-type', type], [':content-type', 'application/json'], [':message-type', 'exception']], payload);

// A Converse answer as ConverseStream events, as Bedrock streams it.
export function streamEvents({ message, stopReason, usage }) {
  const ev = [{ event: 'messageStart', payload: { role: 'assistant', p: 'abcdefghijk' } }];
  message.content.forEach((b, i) => {
    if (b.text !== undefined) {
      for (const piece of [b.text.slice(0, 3), b.text.slice(3)]) if (piece) ev.push({ event: 'contentBlockDelta', payload: { contentBlockIndex: i, delta: { text: piece } } });
    } else if (b.toolUse) {
      ev.push({ event: 'contentBlockStart', payload: { contentBlockIndex: i, start: { toolUse: { toolUseId: b.toolUse.toolUseId, name: b.toolUse.name } } } });
      const json = JSON.stringify(b.toolUse.input);
      ev.push({ event: 'contentBlockDelta', payload: { contentBlockIndex: i, delta: { toolUse: { input: json.slice(0, 5) } } } });
      ev.push({ event: 'contentBlockDelta', payload: { contentBlockIndex: i, delta: { toolUse: { input: json.slice(5) } } } });
    } else if (b.reasoningContent) {
      ev.push({ event: 'contentBlockDelta', payload: { contentBlockIndex: i, delta: { reasoningContent: { text: b.reasoningContent.reasoningText.text } } } });
      ev.push({ event: 'contentBlockDelta', payload: { contentBlockIndex: i, delta: { reasoningContent: { signature: 'sig' } } } });
    }
    ev.push({ event: 'contentBlockStop', payload: { contentBlockIndex: i } });
  });
  ev.push({ event: 'messageStop', payload: { stopReason } });
  ev.push({ event: 'metadata', payload: { usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens }, metrics: { latencyMs: 42 } } });
  return ev;
}

export async function startBedrockFake(script, creds) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const rec = { method: req.method, url: req.url, headers: req.headers, raw: raw.toString('utf8'), body: null, sig: null };
      requests.push(rec);
      try { rec.body = JSON.parse(rec.raw); } catch { /* recorded as is */ }
      const fail = (status, type, message) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': 'fake-req' });
        res.end(JSON.stringify({ message }));
      };
      rec.sig = verifySigV4(req, raw, creds);
      if (!rec.sig.ok) {
        // As AWS does: the expected canonical request and string to sign, in the message.
        return fail(403, 'InvalidSignatureException', `The request signature we calculated does not match the signature you provided (${rec.sig.why}). Authorization was '${req.headers.authorization}'. The Canonical String for this request should have been\n'${rec.sig.canonical || ''}'\nThe String-to-Sign should have been\n'${rec.sig.sts || ''}'`);
      }
      const m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec(req.url);
      if (!m) return fail(404, 'UnknownOperationException', `no such operation ${req.url}`);
      rec.modelId = decodeURIComponent(m[1]);
      rec.op = m[2];
      const answer = await script(rec, rec.body);
      if (answer.status) return fail(answer.status, answer.type, answer.message);
      if (rec.op === 'invoke') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(answer.json));
      }
      if (rec.op === 'converse') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ output: { message: answer.message }, stopReason: answer.stopReason, usage: { ...answer.usage, totalTokens: answer.usage.inputTokens + answer.usage.outputTokens }, metrics: { latencyMs: 42 } }));
      }
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'fake-req' });
      const items = answer.events || streamEvents(answer);
      for (const it of items) {
        const f = it.exception ? exceptionFrame(it.exception, it.payload) : eventFrame(it.event, it.payload);
        // a frame split across two writes: the gateway must reassemble it
        const cut = Math.floor(f.length / 2);
        res.write(f.subarray(0, cut));
        await new Promise((r) => setTimeout(r, 1));
        res.write(f.subarray(cut));
      }
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, requests, close: () => new Promise((r) => server.close(r)) };
}
