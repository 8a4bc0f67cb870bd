// check_error_literals.mjs — the error catalogue check: the gateway's own
// errors are rows of src/base/error_catalogue.def, so no other file of src/
// spells one. Fails on:
//   - a reply function (REPLY_FUNCS) called with a literal HTTP status, a
//     literal error type or a literal error code among its arguments;
//   - a string literal equal to a catalogue code anywhere else in src/, unless
//     ALLOWED names it (a code that means something else there, e.g. an
//     upstream's code matched on) — and an ALLOWED entry that no longer occurs
//     (the list only shrinks).
// Not scanned: the catalogue itself, src/mock/ (it imitates providers, whose
// errors are theirs) and src/provider/ (adapters translate upstream errors:
// their status and type are the provider's, not the gateway's).
// Node only, no dependencies.
//   node tests/errors/check_error_literals.mjs [repo-root]   check the tree
//   node tests/errors/check_error_literals.mjs --self-test   prove the checker fails
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// name -> index of the status argument (-1: none)
const REPLY_FUNCS = new Map([
  ['gr_request_fail', 1],
  ['gr_reply_error', 1],
  ['gr_error_json', -1],
  ['gr_messages_error_json', 0],
  ['gr_messages_error_json_typed', -1],
]);

const SKIP = [/^base\/error_catalogue\./, /^mock\//, /^provider\//];

// A literal allowed where it means something other than a gateway reply.
export const ALLOWED = [
  { file: 'route/route_retry.c', literal: 'context_length_exceeded', why: 'an upstream code the retry classifier matches' },
  { file: 'route/route.c', literal: 'model_not_found', why: 'gr_route_result_name: the name of a plan result (explanations)' },
  { file: 'route/route.c', literal: 'no_capable_model', why: 'gr_route_result_name: the name of a plan result (explanations)' },
  { file: 'features/proxy_relay.c', literal: 'upstream_response_too_large', why: 'r->error_type of a cut stream (logs), matched in proxy_attempt.c' },
  { file: 'features/proxy_attempt.c', literal: 'upstream_response_too_large', why: 'matches r->error_type set by proxy_relay.c' },
  { file: 'features/pay_x402_admit.c', literal: 'siwx_nonce_used', why: 'the x402 reason in the 402 reply of a replayed sign-in (not a gateway error body)' },
  { file: 'features/proxy_relay.c', literal: 'upstream_timeout', why: 'the in-band error event of a stream already started (no status to send)' },
];

// The catalogue: codes and types of its rows.
export function parseCatalogue(text) {
  const codes = new Set();
  const types = new Set();
  const re = /GR_ERROR\(\s*GR_EC_\w+\s*,\s*(?:"([^"]*)"|NULL)\s*,\s*\d+\s*,\s*"([^"]+)"\s*,\s*"([^"]+)"/g;
  let m;
  while ((m = re.exec(text))) {
    if (m[1]) codes.add(m[1]);
    types.add(m[2]);
    types.add(m[3]);
  }
  if (!codes.size) throw new Error('error_catalogue.def has no rows');
  return { codes, types };
}

// Source text with comments blanked (strings kept), so a comment that quotes
// a code is not a finding.
function stripComments(s) {
  let out = '';
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== c) j += s[j] === '\\' ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j + 1;
    } else if (s.startsWith('//', i)) {
      const j = s.indexOf('\n', i);
      i = j < 0 ? s.length : j;
    } else if (s.startsWith('/*', i)) {
      const j = s.indexOf('*/', i + 2);
      const end = j < 0 ? s.length : j + 2;
      out += s.slice(i, end).replace(/[^\n]/g, ' ');
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// The arguments of the call whose '(' is at open (top-level commas split).
function callArgs(s, open) {
  const args = [];
  let depth = 0, start = open + 1;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < s.length && s[j] !== c) j += s[j] === '\\' ? 2 : 1;
      i = j;
    } else if (c === '(') depth++;
    else if (c === ')') {
      if (--depth === 0) {
        args.push(s.slice(start, i));
        return args;
      }
    } else if (c === ',' && depth === 1) {
      args.push(s.slice(start, i));
      start = i + 1;
    }
  }
  return args;
}

const lineOf = (s, at) => s.slice(0, at).split('\n').length;
const literalsOf = (arg) => [...arg.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);

// files: Map path under src/ -> text. Returns a list of problems (empty = clean).
export function check(files, catalogueText, allowed = ALLOWED) {
  const { codes, types } = parseCatalogue(catalogueText);
  const problems = [];
  const used = new Set();
  for (const [path, raw] of files) {
    if (SKIP.some((re) => re.test(path))) continue;
    const s = stripComments(raw);
    const inCalls = [];
    for (const [fn, statusAt] of REPLY_FUNCS) {
      const re = new RegExp(`\\b${fn}\\s*\\(`, 'g');
      let m;
      while ((m = re.exec(s))) {
        const open = m.index + m[0].length - 1;
        const args = callArgs(s, open);
        const where = `${path}:${lineOf(s, m.index)}`;
        args.forEach((arg, i) => {
          if (i === statusAt && /(^|[^\w.])[1-5]\d\d(?![\w.])/.test(arg))
            problems.push(`${where}: ${fn} with a literal status (${arg.trim()}): use a catalogue row`);
          for (const lit of literalsOf(arg))
            if (types.has(lit) || codes.has(lit))
              problems.push(`${where}: ${fn} with the literal "${lit}": use a catalogue row`);
        });
        inCalls.push([open, open + args.join(',').length + 2]);
      }
    }
    const re = /"((?:[^"\\]|\\.)*)"/g;
    let m;
    while ((m = re.exec(s))) {
      if (!codes.has(m[1]) || inCalls.some(([a, b]) => m.index > a && m.index < b)) continue;
      const ok = allowed.find((a) => a.file === path && a.literal === m[1]);
      if (ok) {
        used.add(ok);
        continue;
      }
      problems.push(`${path}:${lineOf(s, m.index)}: the error code "${m[1]}" spelled outside the catalogue: name its row (GR_EC_…)`);
    }
  }
  for (const a of allowed)
    if (!used.has(a)) problems.push(`allowed "${a.literal}" in ${a.file} no longer occurs: remove it from ALLOWED`);
  return problems;
}

function selfTest() {
  const cat = `GR_ERROR(GR_EC_UNKNOWN_URL, "unknown_url", 404, "invalid_request_error", "not_found_error", "x")
GR_ERROR(GR_EC_NOPE, NULL, 502, "api_error", "api_error", "y")`;
  const clean = new Map([
    ['gateway/a.c', '/* "unknown_url" in a comment */ gr_request_fail_code(r, GR_EC_UNKNOWN_URL, NULL, "Invalid URL %s", p);'],
    ['features/b.c', 'gr_request_fail(r, e.status, e.type, e.code, NULL, "%s", e.message);'],
    ['mock/m.c', 'gr_reply_error(req, 404, "invalid_request_error", "unknown_url", NULL, "mock");'],
  ]);
  const allow = [{ file: 'route/r.c', literal: 'unknown_url', why: 'test' }];
  const withAllowed = new Map([...clean, ['route/r.c', 'return "unknown_url";']]);
  const cases = [
    ['clean tree', withAllowed, 0],
    ['literal status, type and code in gr_request_fail', new Map([...withAllowed, ['features/c.c',
      'gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "x %d", 404);']]), 3],
    ['a literal type with a variable status', new Map([...withAllowed, ['features/c.c',
      'gr_request_fail(r, st, "api_error", code, NULL, "x");']]), 1],
    ['a ternary of literal statuses', new Map([...withAllowed, ['features/c.c',
      'gr_request_fail(r, t ? 504 : 502, type, code, NULL, "x");']]), 1],
    ['a code assigned outside a call', new Map([...withAllowed, ['features/c.c', 'const char *code = "unknown_url";']]), 1],
    ['an Anthropic error with a literal status', new Map([...withAllowed, ['features/c.c', 's = gr_messages_error_json(404, m);']]), 1],
    ['a stale allowance', clean, 1],
  ];
  let bad = 0;
  for (const [name, files, want] of cases) {
    const got = check(files, cat, allow);
    const ok = got.length === want;
    console.log(`${ok ? 'ok' : 'FAIL'} - ${name}${got.length ? ': ' + got.join('; ') : ''}`);
    if (!ok) bad++;
  }
  return bad ? 1 : 0;
}

function main() {
  if (process.argv[2] === '--self-test') process.exit(selfTest());
  const root = process.argv[2] || join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const src = join(root, 'src');
  const files = new Map();
  const walk = (dir, prefix) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${prefix}${e.name}/`);
      else if (/\.(c|h)$/.test(e.name)) files.set(prefix + e.name, readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(src, '');
  const problems = check(files, readFileSync(join(src, 'base', 'error_catalogue.def'), 'utf8'));
  for (const p of problems) console.error(`errors: ${p}`);
  if (problems.length) process.exit(1);
  console.log(`errors: ${files.size} files of src/ spell no gateway error outside the catalogue`);
}

main();
