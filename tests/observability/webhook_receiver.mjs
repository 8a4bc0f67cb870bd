// webhook_receiver.mjs — a stand-in for an operator's alert webhook: checks
// every delivery's X-GateRouter-Signature (t=<unix>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">) with the shared secret, records every attempt, and can fail
// the first N attempts (503) or all of them while `rx.failAlways`.
import http from 'node:http';
import crypto from 'node:crypto';

export const SECRET = 'whsec-test-0123456789abcdef';

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

export function verifySignature(headers, raw, secret = SECRET) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(headers['x-gaterouter-signature'] || '');
  if (!m) return false;
  const want = crypto.createHmac('sha256', secret).update(`${m[1]}.${raw}`).digest('hex');
  const fresh = Math.abs(Date.now() / 1000 - Number(m[1])) < 300;
  return fresh && crypto.timingSafeEqual(Buffer.from(want), Buffer.from(m[2]));
}

// `alerts` are the accepted deliveries (signature valid); `bad` the others.
export async function startReceiver({ failFirst = 0, failAlways = false } = {}) {
  const attempts = [], alerts = [], bad = [];
  const rx = { failFirst, failAlways };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const ok = verifySignature(req.headers, raw);
      if (!ok) bad.push({ headers: req.headers, raw });
      let body = null;
      try { body = JSON.parse(raw); } catch { bad.push({ raw }); }
      attempts.push({ at: Date.now(), body, headers: req.headers });
      if (rx.failAlways || rx.failFirst > 0) {
        rx.failFirst--;
        res.writeHead(503).end();
        return;
      }
      if (ok && body) alerts.push({ body, headers: req.headers });
      res.writeHead(204).end();
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/hook`, attempts, alerts, bad, rx,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
    async waitFor(pred, ms = 15000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const hit = alerts.filter(pred);
        if (hit.length) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      return [];
    },
  };
}
