// openai_fake.mjs — a recording upstream that speaks OpenAI's chat
// completions (streamed or not, with tool calls) and embeddings, for suites
// that check what a client's request turns into once it reaches an
// OpenAI-wire provider. Every request is recorded (recording_server.mjs).
// The reply is scripted by the conversation: when tools are offered and the
// last message is the user's, it calls the first tool with `toolArgs`;
// after a tool result it answers `The tool said: <result>`; asked for a
// JSON schema (response_format json_schema) it answers `structured`, as
// JSON; otherwise `Fake OpenAI says hi`. Usage is fixed (USAGE) so a test can check that the
// numbers reach the client unchanged.
import { startRecordingServer } from './recording_server.mjs';

export const USAGE = { prompt_tokens: 31, completion_tokens: 7, total_tokens: 38 };

const textOf = (c) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => p.text || '').join('') : '');

function reply(body, toolArgs, structured) {
  const msgs = body.messages || [];
  if (body.response_format && body.response_format.type === 'json_schema') return { text: JSON.stringify(structured) };
  const last = msgs[msgs.length - 1] || {};
  if (Array.isArray(body.tools) && body.tools.length && last.role === 'user') {
    const name = body.tools[0].function.name;
    return { tool: { id: `call_fake_${msgs.length}`, name, arguments: JSON.stringify(toolArgs) } };
  }
  if (last.role === 'tool') return { text: `The tool said: ${textOf(last.content)}` };
  return { text: 'Fake OpenAI says hi' };
}

const sse = (obj) => `data: ${JSON.stringify(obj)}\n\n`;

export async function startOpenAIFake({ toolArgs = { city: 'Paris' }, structured = { city: 'Paris', temp: 21 } } = {}) {
  return startRecordingServer((rec, res) => {
    const b = rec.body || {};
    const send = (status, type, bytes) => {
      rec.reply = bytes;
      res.writeHead(status, { 'content-type': type });
      res.end(bytes);
    };
    if (rec.url.startsWith('/v1/embeddings')) {
      const inputs = Array.isArray(b.input) ? b.input : [b.input];
      return send(200, 'application/json', JSON.stringify({
        object: 'list', model: b.model,
        data: inputs.map((_, index) => ({ object: 'embedding', index, embedding: [0.25, -0.5, 0.75] })),
        usage: { prompt_tokens: 5, total_tokens: 5 },
      }));
    }
    if (!rec.url.startsWith('/v1/chat/completions'))
      return send(404, 'application/json', JSON.stringify({ error: { message: `no route ${rec.url}`, type: 'invalid_request_error' } }));
    const r = reply(b, toolArgs, structured);
    const head = { id: `chatcmpl-fake${rec.seq}`, created: 1700000000, model: b.model };
    const message = r.tool
      ? { role: 'assistant', content: null, tool_calls: [{ id: r.tool.id, type: 'function', function: { name: r.tool.name, arguments: r.tool.arguments } }] }
      : { role: 'assistant', content: r.text };
    const finish = r.tool ? 'tool_calls' : 'stop';
    if (!b.stream)
      return send(200, 'application/json', JSON.stringify({ ...head, object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: finish }], usage: USAGE }));
    const chunk = (delta, finish_reason = null) => sse({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason }] });
    let out = chunk({ role: 'assistant', content: '' });
    if (r.tool) {
      out += chunk({ tool_calls: [{ index: 0, id: r.tool.id, type: 'function', function: { name: r.tool.name, arguments: '' } }] });
      out += chunk({ tool_calls: [{ index: 0, function: { arguments: r.tool.arguments } }] });
    } else {
      for (const w of r.text.split(/(?= )/)) out += chunk({ content: w });
    }
    out += chunk({}, finish);
    if (b.stream_options && b.stream_options.include_usage)
      out += sse({ ...head, object: 'chat.completion.chunk', choices: [], usage: USAGE });
    out += 'data: [DONE]\n\n';
    return send(200, 'text/event-stream', out);
  });
}
