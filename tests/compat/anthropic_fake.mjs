// anthropic_fake.mjs — a recording upstream that speaks Anthropic's Messages
// API wire format (POST /v1/messages, streamed or not, and
// /v1/messages/count_tokens). Every request is recorded byte for byte
// (method, url, headers, rawHeaders — to count repeated headers —, raw body);
// every reply's exact bytes are kept too,
// so a test can assert that the gateway relayed both ways unchanged.
// `script(req, parsedBody)` returns the Anthropic message to answer with
// (or { status, body } for an error); the stream form is generated from it
// the way Anthropic streams: message_start, ping, content blocks (text_delta,
// thinking_delta + signature_delta, input_json_delta), message_delta,
// message_stop.
import { startRecordingServer } from './recording_server.mjs';

const frame = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export function streamBytes(msg) {
  const { content, usage, stop_reason, ...head } = msg;
  const startUsage = { ...usage, output_tokens: 1 };
  let out = frame('message_start', { type: 'message_start', message: { ...head, content: [], stop_reason: null, stop_sequence: null, usage: startUsage } });
  out += frame('ping', { type: 'ping' });
  content.forEach((b, index) => {
    if (b.type === 'text') {
      out += frame('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      out += frame('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: b.text } });
    } else if (b.type === 'thinking') {
      out += frame('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      out += frame('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: b.thinking } });
      out += frame('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: b.signature } });
    } else if (b.type === 'tool_use') {
      out += frame('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      out += frame('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } });
    }
    out += frame('content_block_stop', { type: 'content_block_stop', index });
  });
  out += frame('message_delta', { type: 'message_delta', delta: { stop_reason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  out += frame('message_stop', { type: 'message_stop' });
  return out;
}

export async function startAnthropicFake(script) {
  return startRecordingServer((rec, res) => {
    const send = (status, type, bytes) => {
      rec.reply = bytes;
      res.writeHead(status, { 'content-type': type, 'request-id': `req_fake_${rec.seq}` });
      res.end(bytes);
    };
    if (rec.url.startsWith('/v1/messages/count_tokens')) return send(200, 'application/json', JSON.stringify({ input_tokens: 4321 }));
    const answer = script(rec, rec.body);
    if (answer.status) return send(answer.status, 'application/json', JSON.stringify(answer.body));
    if (rec.body && rec.body.stream) return send(200, 'text/event-stream; charset=utf-8', streamBytes(answer));
    return send(200, 'application/json', JSON.stringify(answer));
  });
}

// A message as Anthropic returns it.
export function message(model, content, { stop_reason = 'end_turn', usage } = {}) {
  return {
    id: `msg_fake_${Math.random().toString(36).slice(2, 10)}`, type: 'message', role: 'assistant', model, content,
    stop_reason, stop_sequence: null,
    usage: usage || { input_tokens: 120, cache_creation_input_tokens: 2000, cache_read_input_tokens: 8000, output_tokens: 40 },
  };
}
