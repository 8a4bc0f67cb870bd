// x402-demo-gateway.mjs — what both x402 demos share: the mock upstream
// (`gaterouter mock`) and GateRouter on one of config/examples/*.yaml, on
// free ports, with a throwaway SQLite store; started, waited for, stopped.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../tests/compat/harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const bin = process.env.GR_BIN || join(root, 'build', 'gaterouter');

// example: the file name under config/examples; env: its ${…} variables.
export async function startDemoGateway(example, env) {
  const mockPort = await freePort();
  const mock = spawn(bin, ['mock', '--port', String(mockPort)], { stdio: 'ignore' });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const gw = spawn(bin, ['--config', join(root, 'config', 'examples', example)], {
    env: { ...process.env, GR_LISTEN: `127.0.0.1:${port}`, GR_PROVIDER_URL: `http://127.0.0.1:${mockPort}/v1`, OPENAI_API_KEY: 'mock',
      GR_STORE: `sqlite://${join(mkdtempSync(join(tmpdir(), 'gr-x402-demo-')), 'demo.db')}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  gw.stdout.on('data', (d) => { logs += d; });
  gw.stderr.on('data', (d) => { logs += d; });
  const stop = async () => {
    if (gw.exitCode === null) { gw.kill('SIGTERM'); await new Promise((r) => gw.on('exit', r)); }
    if (mock.exitCode === null) mock.kill('SIGTERM');
  };
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/ready`)).ok) break; } catch { /* starting */ }
    if (gw.exitCode !== null || i > 200) {
      await stop();
      throw new Error(`the gateway did not start:\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { base, mockPort, logs: () => logs, stop };
}
