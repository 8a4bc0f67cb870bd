#!/usr/bin/env python3
"""make_seeds.py OUT_DIR — write seed inputs for every fuzz target from the
repository's fixtures (tests/fixtures, config/) into OUT_DIR/<target>/.
The committed corpus (tests/fuzz/corpus/) was produced by fuzzing from these
seeds and minimising with libFuzzer's -merge=1 (docs/RELIABILITY.md)."""
import base64, glob, hashlib, json, os, sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, 'build-fuzz', 'seeds')

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), 'wb') as f:
        f.write(data)

def rd(p):
    with open(p, 'rb') as f:
        return f.read()

fx = os.path.join(root, 'tests', 'fixtures')

# SSE framer: 3-byte header (cap selector, split offset) + stream bytes
sse_streams = [rd(p) for p in glob.glob(f'{fx}/*/*/upstream_response.sse')]
sse_streams += [b'data: a\r\ndata: b\r\rdata: c\n\n', b'\xef\xbb\xbfdata: bom\n\n',
                b': ping\n\nevent: x\nid: 7\ndata: y\nretry: 5\n\n', b'data: STOP\n\ndata: after\n\n',
                b'data:no-space\n\ndata\n\n:comment only\n', b'data: ' + b'x' * 200 + b'\n\n']
for i, s in enumerate(sse_streams):
    put('sse', bytes([3, 0, (i * 7) % 256]) + s)
    put('sse', bytes([i % 3, 0, 3]) + s[:600])

# config loader
for p in glob.glob(f'{root}/config/*.yaml') + glob.glob(f'{root}/config/*.yml'):
    put('config', rd(p))
put('config', '''store: "sqlite://:memory:"
server: { listen: 127.0.0.1:0, workers: 1, max_body_bytes: 1MiB, max_header_bytes: 8KiB }
auth: { keys: [ { name: a, key: "sk-${HOME}-0123456789" } ], admin_key: "${GR_NOPE:-adm}" }
keys: [ { name: k, key: gr-abc, budget_usd: "1.5", rpm: 60, models: [m] } ]
providers:
  - { name: p, kind: openai, base_url: "http://127.0.0.1:1/v1", timeouts: { connect_ms: 100, first_byte_ms: 200, idle_ms: 300, total_ms: 0 }, headers: { X-A: b } }
  - { name: a, kind: anthropic, base_url: "https://api.anthropic.com/v1", api_key: x, api_version: "2023-06-01" }
  - { name: g, kind: gemini, base_url: "https://generativelanguage.googleapis.com/v1beta", api_key: y }
  - { name: mk, kind: mock, latency_ms: 1, tokens_per_sec: 5 }
models:
  - { name: m, provider: p, model: up, aliases: [x, y], pricing: { input: 0.15, output: "0.6", cached_input: 0.075, per_request: 0.001 }, capabilities: [chat, stream], fallbacks: [n] }
  - { name: n, deployments: [ { provider: a, model: c, weight: 2 }, { provider: g, model: d, region: eu } ], strategy: least-latency }
''')

# request bodies (chat validation path, json_edit)
reqs = []
for pat in ('*/*/request.json', '*/*/anthropic_request.json', '*/*/canonical_response.json',
            '*/*/upstream_request.json'):
    reqs += [rd(p) for p in glob.glob(f'{fx}/{pat}')]
for p in glob.glob(f'{fx}/messages/*/chunks.jsonl'):
    reqs += [l for l in rd(p).splitlines() if l.strip()]
reqs += [b'{"model":"a","model":"b","messages":[]}', b'{"mod\\u0065l":"x","messages":[{"role":"user","content":"hi"}]}',
         b'{"model":"m","max_tokens":1e308,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}',
         b'{ "model" : 1 , "stream_options" : {"include_usage":false} , "stream":true}']
for r in reqs:
    put('chat_request', r)
    put('json_edit', r)

# Responses API bodies (requests, canonical replies, chunks as `chunks`)
for pat in ('responses/*/responses_request.json', 'responses/*/canonical_response.json', 'responses/*/history.json'):
    for p in glob.glob(f'{fx}/{pat}'):
        put('responses_request', rd(p))
for p in glob.glob(f'{fx}/responses/*/stream.sse'):
    chunks = [l[6:] for l in rd(p).decode().splitlines() if l.startswith('data: {')]
    put('responses_request', ('{"model":"m","input":"x","chunks":[' + ','.join(chunks) + ']}').encode())

# provider response parsers: byte0 bit0 stream, bit1 include_usage; byte1 split/status
for prov in ('anthropic', 'gemini'):
    for d in glob.glob(f'{fx}/{prov}/*'):
        for name in ('upstream_response.json', 'upstream_response.txt'):
            p = os.path.join(d, name)
            if os.path.exists(p):
                put(f'provider_{prov}', b'\x00\x05' + rd(p))
                if 'embeddings' in d:  # byte0 bit2: embeddings as base64
                    put(f'provider_{prov}', b'\x04\x05' + rd(p))
        p = os.path.join(d, 'upstream_response.sse')
        if os.path.exists(p):
            put(f'provider_{prov}', b'\x01\x00' + rd(p))
            put(f'provider_{prov}', b'\x03\x09' + rd(p))

# svm: the raw Solana transaction of tests/unit/test_svm.c (built by the official libraries), a few cuts
import re
svm_b64 = ''.join(re.findall(r'"([A-Za-z0-9+/=]+)"', rd(os.path.join(root, 'tests', 'unit', 'test_svm.c')).decode()
                             .split('#define V_TX', 1)[1].split('static', 1)[0]))
svm_tx = base64.b64decode(svm_b64)
put('svm', svm_tx)
for cut in (1, 65, 129, 133, 200, len(svm_tx) - 1):
    put('svm', svm_tx[:cut])

# x402: raw headers and their JSON (the target base64-encodes input starting with '{')
vec = json.loads(rd(f'{fx}/x402/viem_vectors.json'))
for c in vec['cases']:
    for k in ('xPaymentV1', 'paymentSignatureV2'):
        put('x402', c[k])
        put('x402', base64.b64decode(c[k]))

# admin: request sequences separated by 0x1E (see fuzz_admin.c)
RS = '\x1e'
admin = [
    'POST /admin/keys\n{"name":"k1","budget_usd":"1.5","rpm":60,"tpm":1000,"models":["m"],"metadata":{"team":"a"},"expires_at":1800000000}'
    + RS + 'GET /admin/keys' + RS + 'GET /admin/keys/$ID' + RS
    + 'PATCH /admin/keys/$ID\n{"budget_usd":"2","budget_daily_usd":"0.5","budget_monthly_usd":"1","rpm":null,"name":"k2"}'
    + RS + '@GET /v1/key' + RS + '@GET /v1/generation?id=req_fuzz1' + RS + 'DELETE /admin/keys/$ID' + RS + '@GET /v1/key',
    'GET /admin/usage?group_by=model&from=2023-01-01&to=2030-12-31' + RS + 'GET /admin/usage?group_by=day&from=1699999000000'
    + RS + 'GET /admin/usage?group_by=key&key_id=x' + RS + 'GET /admin/usage?group_by=provider',
    'GET /admin/generation?id=req_fuzz1' + RS + '!GET /admin/keys' + RS + '~GET /admin/keys' + RS + 'PUT /admin/keys',
    'POST /admin/keys\n{"name":1}' + RS + 'POST /admin/keys\n[' + RS + 'PATCH /admin/keys/nope\n{}',
]
for a in admin:
    put('admin', a)
# http_server: flag byte (see fuzz_http_server.c: caps, answer mode, half-close,
# free-while-owned, write split) + the bytes a client sends
H = 'Host: a\r\n'
http_reqs = [
    (0x00, 'GET /a HTTP/1.1\r\n' + H + '\r\nGET /b?x=1 HTTP/1.1\r\n' + H + '\r\nGET /c HTTP/1.1\r\n' + H + 'Connection: close\r\n\r\n'),
    (0x0c, 'GET /1 HTTP/1.1\r\n' + H + '\r\nHEAD /2 HTTP/1.1\r\n' + H + '\r\nPOST /3 HTTP/1.1\r\n' + H + 'Content-Length: 3\r\n\r\nabcGET /4 HTTP/1.1\r\n' + H + '\r\n'),
    (0x44, 'POST /v1/chat/completions HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n0\r\nX-Trailer: t\r\n\r\n'),
    (0x02, 'POST /big HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\n\r\n40\r\n' + 'x' * 64 + '\r\n40\r\n' + 'y' * 64 + '\r\n0\r\n\r\n'),
    (0x80, 'POST /e HTTP/1.1\r\n' + H + 'Content-Length: 11\r\nExpect: 100-continue\r\n\r\nhello world'),
    (0x02, 'POST /e HTTP/1.1\r\n' + H + 'Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n'),
    (0x10, 'GET /old HTTP/1.0\r\n\r\n'),
    (0x14, 'GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /again HTTP/1.0\r\n\r\n'),
    (0x00, 'GARBAGE\r\n\r\n'),
    (0x00, 'GET / HTTP/1.1\r\nBad Header Line\r\n\r\n'),
    (0x00, 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'),
    (0x00, 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    (0x01, 'GET / HTTP/1.1\r\n' + H + 'X-Big: ' + 'b' * 600 + '\r\n\r\n'),
    (0x00, 'GET /fold HTTP/1.1\r\n' + H + 'X-Folded: first\r\n  continued\r\n\tagain\r\n\r\n'),
    (0xc8, 'GET /x HTTP/1.1\r\n' + H + 'X-Dup: 1\r\nx-dup: 2\r\n\r\nGET /y HTTP/1.1\r\n' + H + '\r\n'),
    (0x28, 'GET /held HTTP/1.1\r\n' + H + '\r\n'),
    (0x00, 'GET /half HTTP/1.1\r\n' + H),
]
for flags, r in http_reqs:
    put('http_server', bytes([flags]) + r.encode())

# AWS event stream (Bedrock): byte 0 cap selector, bytes 1-2 split offset + frames
sys.dont_write_bytecode = True  # no __pycache__ among the fixture cases
sys.path.insert(0, os.path.join(fx, 'bedrock'))
import eventstream as es
es_streams = [rd(p) for p in glob.glob(f'{fx}/bedrock/*/upstream_response.eventstream')]
es_streams += [es.event('messageStart', {'role': 'assistant'}) + es.event('messageStop', {'stopReason': 'end_turn'}),
               es.exception('throttlingException', {'message': 'slow down'}), es.error('InternalFailure', 'boom'),
               es.message([(':message-type', 'event')], b''), es.event('x', 'y' * 300)[:-2]]
for i, s_ in enumerate(es_streams):
    put('aws_eventstream', bytes([3, 0, (i * 13) % 256]) + s_)
    put('aws_eventstream', bytes([i % 3, 0, 7]) + s_[:600])
# the Bedrock adapter: as the other providers, with the stream in event-stream frames
for d in glob.glob(f'{fx}/bedrock/*'):
    p = os.path.join(d, 'upstream_response.json')
    if os.path.exists(p):
        put('provider_bedrock', b'\x00\x05' + rd(p))
    p = os.path.join(d, 'upstream_response.eventstream')
    if os.path.exists(p):
        put('provider_bedrock', b'\x01\x00' + rd(p))
        put('provider_bedrock', b'\x03\x11' + rd(p))
print(out)
