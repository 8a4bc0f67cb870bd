// codex.test.mjs — the Codex CLI (`@openai/codex`, pinned in package.json)
// run non-interactively (`codex exec`) against the gateway as a custom model
// provider (wire_api = "responses"), exactly as the README's "Use with
// Codex" section configures it. A recording fake sits between Codex and the
// gateway and keeps every request, so the suite checks what Codex sends as
// well as what it prints. The prompt makes the mock call Codex's
// exec_command tool with `echo gaterouter-codex-ok`: Codex runs it, sends
// the output back as a function_call_output, and prints the model's final
// answer, which quotes it. Once per upstream wire: chat completions (the
// built-in mock), Anthropic and Gemini (a standalone mock through the
// native adapters).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, startStandaloneMock, withNativeProviders, defaultConfig, repoRoot, TEST_KEY } from './harness.mjs';

const CODEX = join(repoRoot, 'node_modules', '.bin', 'codex');
const MARK = 'gaterouter-codex-ok';

let mock, gw, recorder, recorderPort;
const recorded = [];

// Forwards to the gateway and keeps each request (method, path, body).
function startRecorder(target) {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      const parts = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        recorded.push({ method: req.method, path: req.url, body: body.toString() });
        const up = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (ur) => {
          res.writeHead(ur.statusCode, ur.headers);
          ur.pipe(res);
        });
        up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
        up.end(body);
      });
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function runCodex(model, prompt) {
  const home = mkdtempSync(join(tmpdir(), 'gr-codex-home-'));
  const cwd = mkdtempSync(join(tmpdir(), 'gr-codex-work-'));
  const args = ['exec', '--skip-git-repo-check', '-m', model,
    '-c', 'model_provider=gaterouter',
    '-c', `model_providers.gaterouter={name="GateRouter",base_url="http://127.0.0.1:${recorderPort}/v1",env_key="GATEROUTER_API_KEY",wire_api="responses"}`,
    prompt];
  return new Promise((resolve) => {
    const p = spawn(CODEX, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CODEX_HOME: home, GATEROUTER_API_KEY: TEST_KEY, NO_COLOR: '1' } });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

before(async () => {
  assert.ok(existsSync(CODEX), 'npm ci installs @openai/codex (package.json)');
  mock = await startStandaloneMock();
  gw = await startGateway({
    config: (port, dir) => withNativeProviders(defaultConfig(port, `
  - { name: claude-mock, provider: anth, model: claude-mock-1, pricing: { input: 3, output: 15 }, capabilities: [chat, tools, stream] }
  - { name: gemini-mock, provider: gem, model: gemini-mock-1, pricing: { input: 1, output: 2 }, capabilities: [chat, tools, stream] }
`, dir), mock.port),
  });
  recorder = await startRecorder(gw.port);
  recorderPort = recorder.address().port;
});

after(async () => {
  if (recorder) recorder.close();
  if (gw) assert.equal(await gw.stop(), 0, 'gateway drains and exits 0 on SIGTERM');
  if (mock) {
    assert.equal(await mock.stop(), 0, `mock exits 0 on SIGTERM (sanitizer builds: no leak report)\n${mock.logs()}`);
    assert.doesNotMatch(mock.logs(), /AddressSanitizer|LeakSanitizer|runtime error/, mock.logs());
  }
});

for (const model of ['mock-gpt', 'claude-mock', 'gemini-mock']) {
  test(`[codex exec -> ${model}] a prompt completes with a tool call round trip`, async () => {
    const from = recorded.length;
    const { code, out, err } = await runCodex(model,
      `run the check [[mock:tool=exec_command]] [[mock:args={"cmd":"echo ${MARK}"}]]`);
    assert.equal(code, 0, `codex exit code\nstdout:\n${out}\nstderr:\n${err}\ngateway:\n${gw.logs().slice(-3000)}`);
    assert.match(out, /The tool returned: /, out);
    assert.ok(out.includes(MARK), `the command's output reached the model and came back:\n${out}`);
    const turns = recorded.slice(from).filter((r) => r.method === 'POST' && r.path === '/v1/responses');
    assert.ok(turns.length >= 2, `a tool turn and an answer turn (${turns.length})`);
    const first = JSON.parse(turns[0].body);
    // what Codex sends, and the gateway serves as-is
    assert.equal(first.stream, true);
    assert.equal(first.store, false);
    assert.deepEqual(first.include, ['reasoning.encrypted_content']);
    assert.ok(first.input.some((i) => i.role === 'developer'), 'developer messages');
    const types = new Set(first.tools.map((t) => t.type));
    assert.ok(types.has('function'));
    const second = JSON.parse(turns[1].body);
    const call = second.input.find((i) => i.type === 'function_call');
    const result = second.input.find((i) => i.type === 'function_call_output');
    assert.equal(call.name, 'exec_command');
    assert.equal(result.call_id, call.call_id);
    assert.ok(String(result.output).includes(MARK));
  });
}
