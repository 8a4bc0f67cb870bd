// preset_fakes.mjs — one recording upstream standing in for every
// OpenAI-compatible preset (config `preset:`), each under its own path prefix
// (`/<preset>/v1/chat/completions`). Each prefix refuses what the real
// service refuses, with the status and error body that service sends
// (sources in docs/PROVIDERS.md, "Presets"):
//   deepseek  logprobs / top_logprobs (400, thinking mode); a reasoner's
//             assistant tool-call turn without its reasoning_content (400)
//   mistral   any field outside its schema (422 extra_forbidden), tool-call ids
//             that are not 9 characters [a-zA-Z0-9] (400)
//   groq      logprobs, logit_bias, top_logprobs, messages[].name, n != 1,
//             messages[].reasoning_content (400)
//   xai       grok-4: reasoning_effort, presence_penalty, frequency_penalty,
//             stop (400); grok-3-mini: reasoning_effort other than low|high (400)
// and answers in its dialect: DeepSeek/llama.cpp/LM Studio/xAI reasoning
// models return `reasoning_content`, Ollama and vLLM `reasoning`; Mistral puts usage on the last content
// chunk unasked; Groq adds `x_groq`; OpenRouter returns `usage.cost` when
// asked with usage:{include:true}.
import { startRecordingServer } from './recording_server.mjs';

const MISTRAL_FIELDS = new Set(['model', 'messages', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop',
  'random_seed', 'response_format', 'tools', 'tool_choice', 'presence_penalty', 'frequency_penalty', 'n',
  'prediction', 'parallel_tool_calls', 'prompt_mode', 'safe_prompt']);
const MISTRAL_MESSAGE_FIELDS = new Set(['role', 'content', 'tool_calls', 'tool_call_id', 'name', 'prefix']);
const SHORT_ID = /^[a-zA-Z0-9]{9}$/;

const openaiError = (status, message, extra = {}) => ({
  status, body: { error: { message, type: 'invalid_request_error', param: null, code: null, ...extra } } });

function refusal(preset, b) {
  const msgs = Array.isArray(b.messages) ? b.messages : [];
  switch (preset) {
  case 'deepseek':
    for (const k of ['logprobs', 'top_logprobs'])
      if (k in b) return openaiError(400, `${k} is not supported in thinking mode`);
    // thinking mode: a tool-call turn's reasoning_content must come back
    for (const [i, m] of msgs.entries())
      if (/reasoner/.test(b.model) && m.role === 'assistant' && m.tool_calls && !('reasoning_content' in m))
        return openaiError(400, `Missing \`reasoning_content\` field in the assistant message at message index ${i}`);
    return null;
  case 'mistral': {
    const extra = Object.keys(b).filter((k) => !MISTRAL_FIELDS.has(k));
    msgs.forEach((m, i) => Object.keys(m).filter((k) => !MISTRAL_MESSAGE_FIELDS.has(k) || (k === 'name' && m.role !== 'tool'))
      .forEach((k) => extra.push(`messages.${i}.${k}`)));
    if (extra.length)
      return { status: 422, body: { object: 'error', type: 'invalid_request_error', param: null, code: null,
        message: { detail: extra.map((k) => ({ type: 'extra_forbidden', loc: ['body', ...k.split('.')],
          msg: 'Extra inputs are not permitted' })) } } };
    for (const m of msgs) {
      const ids = [...(m.tool_calls || []).map((c) => c.id), ...(m.tool_call_id ? [m.tool_call_id] : [])];
      for (const id of ids)
        if (!SHORT_ID.test(id))
          return { status: 400, body: { object: 'error', type: 'invalid_request_error', param: null, code: null,
            message: `Tool call id was ${id} but must be a-z, A-Z, 0-9, with a length of 9.` } };
    }
    return null;
  }
  case 'groq':
    for (const k of ['logprobs', 'logit_bias', 'top_logprobs'])
      if (k in b) return openaiError(400, `'${k}' : property '${k}' is unsupported`);
    if ('n' in b && b.n !== 1) return openaiError(400, "'n' : number must be at most 1");
    for (const [i, m] of msgs.entries()) {
      if ('name' in m) return openaiError(400, `'messages.${i}' : property 'name' is unsupported`);
      if ('reasoning_content' in m)
        return openaiError(400, `'messages.${i}' : property 'reasoning_content' is unsupported, did you mean 'reasoning'?`);
    }
    return null;
  case 'xai': {
    const grok4 = b.model === 'grok-4' || b.model.startsWith('grok-4-');
    const mini = b.model.startsWith('grok-3-mini');
    if (grok4 && 'reasoning_effort' in b) return openaiError(400, `Model ${b.model} does not support parameter reasoningEffort.`);
    if (mini && 'reasoning_effort' in b && !['low', 'high'].includes(b.reasoning_effort))
      return openaiError(400, `Invalid reasoning effort: ${b.reasoning_effort}; expected low or high`);
    if (grok4 || mini)
      for (const k of ['presence_penalty', 'frequency_penalty', 'stop'])
        if (k in b) return openaiError(400, `Argument not supported on this model: ${k}`);
    return null;
  }
  default:
    return null;
  }
}

const REASONING_PRESETS = new Set(['deepseek', 'vllm', 'llamacpp', 'lmstudio', 'xai', 'ollama']);
// Ollama and vLLM (0.9 on) name the field `reasoning`
const reasoningField = (preset) => (['ollama', 'vllm'].includes(preset) ? 'reasoning' : 'reasoning_content');
const toolId = (preset) => (preset === 'mistral' ? 'Ab3dE6gH9' : `call_${preset}_1`);

// The answer a request gets: a tool call when tools are offered and the last
// message is the user's, "done: <result>" after a tool message, JSON in JSON
// mode, else a greeting; reasoning models think first.
function answer(preset, b) {
  const last = (b.messages || []).at(-1) || {};
  const message = { role: 'assistant', content: null };
  if (REASONING_PRESETS.has(preset) && /reason|think|mini/.test(b.model)) message.reasoning_content = 'Let me think.';
  let finish = 'stop';
  if (b.tools && last.role === 'user') {
    message.tool_calls = [{ id: toolId(preset), type: 'function',
      function: { name: b.tools[0].function.name, arguments: '{"city":"Paris"}' } }];
    finish = 'tool_calls';
  } else if (last.role === 'tool') {
    message.content = `done: ${last.content}`;
  } else if (b.response_format) {
    message.content = '{"ok":true}';
  } else {
    message.content = `hello from ${preset}`;
  }
  const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
  if (preset === 'openrouter' && b.usage?.include) usage.cost = 0.000123;
  return { message, finish, usage };
}

function completion(preset, b) {
  const { message: m, finish, usage } = answer(preset, b);
  const { reasoning_content: thought, ...rest } = m;
  const message = thought ? { ...rest, [reasoningField(preset)]: thought } : rest;
  return { id: `${preset}-1`, object: 'chat.completion', created: 1700000000, model: b.model,
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }], usage };
}

function streamText(preset, b) {
  const { message, finish, usage } = answer(preset, b);
  const base = { id: `${preset}-1`, object: 'chat.completion.chunk', created: 1700000000, model: b.model };
  const chunk = (delta, extra = {}) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
  let out = chunk({ role: 'assistant', content: '' });
  const rf = reasoningField(preset);
  if (message.reasoning_content) out += chunk({ [rf]: 'Let me ' }) + chunk({ [rf]: 'think.' });
  if (message.tool_calls) {
    const c = message.tool_calls[0];
    out += chunk({ tool_calls: [{ index: 0, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] });
    out += chunk({ tool_calls: [{ index: 0, function: { arguments: c.function.arguments } }] });
  } else {
    const text = message.content;
    const mid = Math.floor(text.length / 2);
    out += chunk({ content: text.slice(0, mid) }) + chunk({ content: text.slice(mid) });
  }
  const fin = { ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] };
  if (preset === 'mistral') fin.usage = usage; // unasked, on the last content chunk
  if (preset === 'groq') fin.x_groq = { id: 'req_1', usage: { queue_time: 0.01, ...usage } };
  out += `data: ${JSON.stringify(fin)}\n\n`;
  if (preset !== 'mistral' && b.stream_options?.include_usage)
    out += `data: ${JSON.stringify({ ...base, choices: [], usage })}\n\n`;
  return out + 'data: [DONE]\n\n';
}

// byteByByte: streams go one byte per write. splitEvery: the n-th streamed
// answer of each preset goes in two writes split at byte n (1, 2, …), its
// length recorded as rec.streamLength so a test knows when every offset ran.
export async function startPresetFake({ byteByByte = false, splitEvery = false } = {}) {
  const streamed = {};
  return startRecordingServer(async (rec, res) => {
    const m = /^\/([a-z]+)\/v1\/chat\/completions$/.exec(rec.url);
    const preset = m ? m[1] : null;
    rec.preset = preset;
    if (!preset || !rec.body) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { message: `no route ${rec.url}` } }));
    }
    const bad = refusal(preset, rec.body);
    if (bad) {
      rec.reply = bad.status;
      res.writeHead(bad.status, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(bad.body));
    }
    rec.reply = 200;
    if (!rec.body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(completion(preset, rec.body)));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const text = Buffer.from(streamText(preset, rec.body));
    rec.streamLength = text.length;
    res.socket.setNoDelay(true);
    if (splitEvery) {
      const at = Math.min((streamed[preset] = (streamed[preset] || 0) + 1), text.length - 1);
      rec.splitAt = at;
      res.write(text.subarray(0, at));
      await new Promise((r) => setTimeout(r, 1));
      return res.end(text.subarray(at));
    }
    if (!byteByByte) return res.end(text);
    for (let i = 0; i < text.length; i++) {
      res.write(text.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    res.end();
  });
}
