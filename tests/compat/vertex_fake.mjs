// vertex_fake.mjs — a recording Google Vertex AI fake: an OAuth token
// endpoint and the two publishers' model endpoints.
//   POST /token   the JWT-bearer grant: the assertion's RS256 signature is
//                 checked against the service account's public key (Node's
//                 crypto), and its iss / aud / scope / exp; a token
//                 "ya29.fake-<n>" valid for `expiresIn` seconds is issued
//   POST /v1/projects/<p>/locations/<l>/publishers/google/models/<m>:generateContent
//        (or :streamGenerateContent?alt=sse)       — Gemini wire format
//   POST …/publishers/anthropic/models/<m>:rawPredict (or :streamRawPredict)
//        — Anthropic wire format; the body must carry anthropic_version
//          "vertex-2023-10-16" and no model
// Every model call must present `Authorization: Bearer <a token this fake
// issued and that has not expired>`, else 401 UNAUTHENTICATED. `tokenFail`
// makes the token endpoint answer 500 (or, "hang", never answer).
import http from 'node:http';
import crypto from 'node:crypto';
import { streamBytes } from './anthropic_fake.mjs';

export function makeServiceAccount(tokenUri, project = 'gr-test-project') {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKey,
    json: {
      type: 'service_account', project_id: project, private_key_id: 'kid-123',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: `gaterouter@${project}.iam.gserviceaccount.com`, client_id: '1',
      token_uri: tokenUri,
    },
  };
}

const b64urlJson = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

export async function startVertexFake({ publicKey, clientEmail, expiresIn = 3600, script }) {
  const state = { tokenCalls: 0, tokenFail: null, issued: new Map(), requests: [], jwtErrors: [], expiresIn };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const json = (status, obj) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
      if (req.url === '/token') {
        state.tokenCalls++;
        if (state.tokenFail === 'hang') return; // never answers
        if (state.tokenFail) return json(500, { error: 'internal_failure', error_description: 'token service down' });
        const form = new URLSearchParams(raw);
        const jwt = form.get('assertion') || '';
        const [h, c, sig] = jwt.split('.');
        let why = null;
        try {
          const header = b64urlJson(h), claims = b64urlJson(c);
          const now = Date.now() / 1000;
          if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') why = 'grant_type';
          else if (header.alg !== 'RS256' || header.kid !== 'kid-123') why = 'header';
          else if (!crypto.verify('RSA-SHA256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(sig, 'base64url'))) why = 'signature';
          else if (claims.iss !== clientEmail || claims.scope !== 'https://www.googleapis.com/auth/cloud-platform') why = 'iss/scope';
          else if (claims.aud !== `http://127.0.0.1:${server.address().port}/token`) why = `aud ${claims.aud}`;
          else if (!(claims.iat <= now + 5 && claims.exp > now && claims.exp - claims.iat <= 3600)) why = 'iat/exp';
        } catch (e) { why = `malformed: ${e.message}`; }
        if (why) { state.jwtErrors.push(why); return json(400, { error: 'invalid_grant', error_description: `bad assertion (${why})` }); }
        const token = `ya29.fake-${state.tokenCalls}-${crypto.randomBytes(6).toString('hex')}`;
        state.issued.set(token, Date.now() + state.expiresIn * 1000);
        return json(200, { access_token: token, expires_in: state.expiresIn, token_type: 'Bearer' });
      }
      const rec = { url: req.url, headers: req.headers, raw, body: null };
      try { rec.body = JSON.parse(raw); } catch { /* as is */ }
      state.requests.push(rec);
      const bearer = (req.headers.authorization || '').replace(/^Bearer /, '');
      const exp = state.issued.get(bearer);
      rec.tokenOk = !!exp && exp > Date.now();
      rec.token = bearer;
      if (!rec.tokenOk)
        return json(401, { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token.', status: 'UNAUTHENTICATED' } });
      const m = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/(google|anthropic)\/models\/([^:]+):(\w+)(\?alt=sse)?$/.exec(req.url);
      if (!m) return json(404, { error: { code: 404, message: `no route ${req.url}`, status: 'NOT_FOUND' } });
      [, rec.project, rec.location, rec.publisher, rec.model, rec.method] = m;
      const answer = script(rec);
      if (answer.status) return json(answer.status, answer.body);
      if (rec.publisher === 'anthropic') {
        if (rec.method === 'streamRawPredict') { res.writeHead(200, { 'content-type': 'text/event-stream' }); return res.end(streamBytes(answer)); }
        return json(200, answer);
      }
      if (rec.method === 'streamGenerateContent') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const text = answer.candidates[0].content.parts[0].text;
        res.write(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: text.slice(0, 4) }] } }] })}\r\n\r\n`);
        return res.end(`data: ${JSON.stringify({ ...answer, candidates: [{ ...answer.candidates[0], content: { role: 'model', parts: [{ text: text.slice(4) }] } }] })}\r\n\r\n`);
      }
      return json(200, answer);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  state.port = server.address().port;
  state.close = () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); });
  return state;
}
