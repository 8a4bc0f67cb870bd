// claude_code_cli.test.mjs — the real Claude Code CLI (@anthropic-ai/claude-code,
// pinned in package.json) in non-interactive mode (`claude -p`) through the
// gateway, offline: with only the environment the README gives
// (ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1),
// its own HOME, and no model named (it asks for its hard-coded default).
//   1. the shipped config/gaterouter.yaml (built-in mock): a prompt completes;
//   2. a scripted Anthropic-format fake (anthropic_fake.mjs) behind a
//      `kind: anthropic` provider: the first answer is thinking + a tool_use
//      (Read), Claude Code runs the tool and sends the result, the second
//      answer is text quoting it. Both requests are recorded and checked.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, repoRoot } from './harness.mjs';
import { startAnthropicFake, message } from './anthropic_fake.mjs';

const CLAUDE = join(repoRoot, 'node_modules', '.bin', 'claude');
const SIG = 'EpgCCkYIBxgCKkCZ+cli/fake/signature==';
const stops = [];
after(async () => { for (const s of stops) await s(); });

// The shipped default config, on a free port, its store in the test's dir.
function shippedConfig(port, dir) {
  const shipped = readFileSync(join(repoRoot, 'config', 'gaterouter.yaml'), 'utf8')
    .replace('"${GR_LISTEN:-127.0.0.1:8080}"', `127.0.0.1:${port}`);
  assert.ok(shipped.includes(`127.0.0.1:${port}`), 'the shipped config still listens on ${GR_LISTEN}');
  assert.ok(!/^store:/m.test(shipped), 'the shipped config names no store: the test adds its own');
  return `store: "sqlite://${dir}/gaterouter.db"\n${shipped}`;
}

function runClaude(base, prompt, cwd) {
  const home = mkdtempSync(join(tmpdir(), 'gr-cc-home-'));
  const env = { PATH: process.env.PATH, HOME: home, TERM: 'dumb',
    ANTHROPIC_BASE_URL: base, ANTHROPIC_AUTH_TOKEN: 'sk-anything',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' };
  return new Promise((resolve, reject) => {
    const p = spawn(CLAUDE, ['-p', prompt], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`claude -p timed out\n${out}\n${err}`)); }, 120000);
    p.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

test('the pinned Claude Code CLI is installed', () => {
  assert.ok(existsSync(CLAUDE), 'npm ci installs @anthropic-ai/claude-code (package.json devDependencies)');
});

test('claude -p completes a prompt against the shipped config (built-in mock)', async () => {
  const gw = await startGateway({ config: shippedConfig });
  stops.push(() => gw.stop());
  const cwd = mkdtempSync(join(tmpdir(), 'gr-cc-cwd-'));
  const r = await runClaude(gw.base, 'say hi', cwd);
  assert.equal(r.code, 0, `claude -p failed:\n${r.out}\n${r.err}\n${gw.logs()}`);
  assert.ok(r.out.trim().length > 0, 'an answer was printed');
  const lines = gw.logs().split('\n').filter((l) => l.includes('"path":"/v1/messages"')).map((l) => JSON.parse(l));
  assert.ok(lines.length >= 1);
  for (const l of lines) {
    assert.equal(l.status, 200, JSON.stringify(l));
    assert.match(l.model, /^claude-/, 'Claude Code asked for its own default model; an alias pattern served it');
    assert.equal(l.stream, true);
  }
});

test('claude -p recovers from a context window too small for its max_tokens (Anthropic\'s wording, retried)', async () => {
  // Claude Code asks for up to 128000 output tokens; at 136000 its prompt does
  // not fit beside them. Answered with Anthropic's own message, the CLI reads
  // the numbers from it and retries with a max_tokens that fits.
  const gw = await startGateway({ config: (port, dir) => shippedConfig(port, dir).replace('context_window: 200000 ', 'context_window: 136000 ') });
  stops.push(() => gw.stop());
  assert.ok(readFileSync(join(repoRoot, 'config', 'gaterouter.yaml'), 'utf8').includes('context_window: 200000 '));
  const r = await runClaude(gw.base, 'say hi', mkdtempSync(join(tmpdir(), 'gr-cc-cwd-')));
  assert.equal(r.code, 0, `claude -p failed:\n${r.out}\n${r.err}\n${gw.logs()}`);
  const lines = gw.logs().split('\n').filter((l) => l.includes('"path":"/v1/messages"')).map((l) => JSON.parse(l));
  assert.equal(lines[0].status, 400, 'the first try did not fit');
  assert.ok(lines.some((l) => l.status === 200), 'the retry with a smaller max_tokens was served');
});

test('claude -p runs a tool round trip against a scripted Anthropic fake, relayed as is', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'gr-cc-cwd-'));
  const notes = join(cwd, 'notes.txt');
  writeFileSync(notes, 'the secret word is zebra-4417\n');
  const fake = await startAnthropicFake((rec, body) => {
    const last = body.messages[body.messages.length - 1];
    const blocks = Array.isArray(last.content) ? last.content : [];
    const result = blocks.find((b) => b.type === 'tool_result');
    if (result) {
      const text = JSON.stringify(result.content);
      return message(body.model, [{ type: 'text', text: `Done: ${text.includes('zebra-4417') ? 'zebra-4417' : 'no word'}` }]);
    }
    if (!(body.tools || []).some((t) => t.name === 'Read')) return message(body.model, [{ type: 'text', text: 'ok' }]);
    return message(body.model, [
      { type: 'thinking', thinking: 'I will read the notes file.', signature: SIG },
      { type: 'tool_use', id: 'toolu_cli_01', name: 'Read', input: { file_path: notes } },
    ], { stop_reason: 'tool_use' });
  });
  stops.push(() => fake.close());
  const gw = await startGateway({
    config: (port, dir) => `
store: "sqlite://${dir}/gaterouter.db"
server: { listen: 127.0.0.1:${port}, workers: 2 }
log: { access_log: "-", level: info }
auth: { mode: open }
providers:
  - { name: anthropic-fake, kind: anthropic, base_url: "http://127.0.0.1:${fake.port}/v1", api_key: sk-ant-fake-upstream }
models:
  - name: claude-via-fake
    aliases: ["claude-*"]
    provider: anthropic-fake
    model: claude-upstream-model
    pricing: { input: 3.00, output: 15.00 }
    context_window: 1000000
    capabilities: [chat, tools, stream, vision]
`,
  });
  stops.push(() => gw.stop());
  const r = await runClaude(gw.base, 'What is the secret word in notes.txt? Use the Read tool.', cwd);
  assert.equal(r.code, 0, `claude -p failed:\n${r.out}\n${r.err}\n${gw.logs()}`);
  assert.match(r.out, /zebra-4417/, 'the answer built on the tool result was printed');
  const main = fake.requests.filter((q) => q.url === '/v1/messages' && JSON.parse(q.raw).tools?.some((t) => t.name === 'Read'));
  assert.ok(main.length >= 2, `two main-loop requests recorded (got ${main.length})`);
  const [first, second] = main.slice(-2);
  for (const q of [first, second]) {
    const b = JSON.parse(q.raw);
    assert.equal(b.model, 'claude-upstream-model', 'only the model was rewritten');
    assert.equal(b.stream, true);
    assert.ok(b.thinking, 'thinking passed through');
    assert.equal(q.headers['x-api-key'], 'sk-ant-fake-upstream');
    assert.match(q.headers['anthropic-beta'] || '', /claude-code-/, 'the anthropic-beta list was forwarded');
  }
  const echoed = JSON.parse(second.raw).messages.find((m) => m.role === 'assistant' && Array.isArray(m.content) && m.content.some((b) => b.type === 'tool_use'));
  assert.ok(echoed, 'the tool_use turn came back');
  assert.deepEqual(echoed.content.find((b) => b.type === 'tool_use'), { type: 'tool_use', id: 'toolu_cli_01', name: 'Read', input: { file_path: notes } });
  const th = echoed.content.find((b) => b.type === 'thinking');
  assert.ok(th, 'the thinking block was sent back');
  assert.equal(th.signature, SIG, 'with its signature intact');
  assert.match(second.raw, /zebra-4417/, 'the tool result was sent upstream');
});
