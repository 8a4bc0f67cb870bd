// report.mjs — turns bench/run's raw JSON lines into the results JSON and the
// printed table (Markdown). Definitions are in docs/BENCHMARKS.md.
//
//   node report.mjs --raw RAW.jsonl --out RESULT.json [--latest latest.json] [--table table.md]
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []),
);
const recs = readFileSync(args.raw, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const meta = recs.find((r) => r.type === 'meta') || {};
const clk = meta.clk_tck || 100;

// Public figures from the issue (GetBusbar/benchmarking "On the Bench", 4 Graviton cores).
const PUBLIC_ADDED_P99_US = {
  'LiteLLM-Rust': 107, Busbar: 116, agentgateway: 186, Helicone: 444, Bifrost: 939, Portkey: 3300, 'LiteLLM-Python': 8000,
};
const PUBLIC_MAX_RPS = 46500;
const PUBLIC_MAX_STREAMS = 512;
const PUBLIC_BEST_TTFT_ADDED_P99_US = 219;

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const wrkErrors = (w) => w.err_connect + w.err_read + w.err_write + w.err_status + w.err_timeout;
const rps = (w) => w.requests / (w.duration_us / 1e6);

const LABELS = {
  direct: 'client → mock (floor)',
  nginx: 'nginx proxy_pass (1 worker)',
  gr: 'GateRouter fast path',
  'gr-keys': 'GateRouter + API key auth + metering',
  'gr-anthropic': 'GateRouter OpenAI→Anthropic',
  'gr-auto': 'GateRouter model:"auto"',
  'gr-x402': 'GateRouter x402-verified request',
  portkey: 'Portkey gateway 1.15 (npm)',
  bifrost: 'Bifrost (npm)',
};
const ORDER = ['direct', 'nginx', 'gr', 'gr-keys', 'gr-anthropic', 'gr-auto', 'gr-x402', 'portkey', 'bifrost'];

const out = { meta, targets: {}, status: {}, added: {}, ratios: {}, targets_check: {}, micro: {}, public: {
  added_p99_c1_us: PUBLIC_ADDED_P99_US, max_proxy_rps: PUBLIC_MAX_RPS, max_streams: PUBLIC_MAX_STREAMS,
  best_ttft_added_p99_us: PUBLIC_BEST_TTFT_ADDED_P99_US,
} };

for (const r of recs.filter((x) => x.type === 'status')) out.status[r.target] = { status: r.status, detail: r.detail };

const T = (name) => (out.targets[name] ||= { label: LABELS[name] || name });

// ---- non-stream
const http = recs.filter((r) => r.type === 'http');
for (const name of [...new Set(http.map((r) => r.target))]) {
  const t = T(name);
  const mine = http.filter((r) => r.target === name && r.scenario === 'sweep');
  const levels = {};
  for (const c of [...new Set(mine.map((r) => r.conc))].sort((a, b) => a - b)) {
    const reps = mine.filter((r) => r.conc === c);
    const lv = {
      reps: reps.length,
      rps: median(reps.map((r) => rps(r.wrk))),
      p50_us: median(reps.map((r) => r.wrk.lat_p50)),
      p90_us: median(reps.map((r) => r.wrk.lat_p90)),
      p99_us: median(reps.map((r) => r.wrk.lat_p99)),
      p999_us: median(reps.map((r) => r.wrk.lat_p999)),
      errors: sum(reps.map((r) => wrkErrors(r.wrk))),
      non2xx: sum(reps.map((r) => r.wrk.err_status)),
      requests: sum(reps.map((r) => r.wrk.requests)),
      cpu_ms_per_1k: null,
    };
    const reqs = sum(reps.map((r) => r.wrk.requests));
    if (reqs > 0) lv.cpu_ms_per_1k = (sum(reps.map((r) => r.cpu_ticks)) / clk) * 1000 / reqs * 1000;
    const mids = reps.map((r) => r.rss_mid_kib).filter((x) => x > 0);
    if (mids.length) lv.rss_mid_kib = median(mids);
    levels[c] = lv;
  }
  t.levels = levels;
  t.latency_c1 = levels[1] || null;
  const clean = Object.entries(levels).filter(([, v]) => v.errors === 0);
  const best = clean.sort((a, b) => b[1].rps - a[1].rps)[0];
  t.max_rps = best ? { rps: best[1].rps, conc: +best[0], p99_us: best[1].p99_us } : null;
  t.frontier = {};
  for (const [k, bound] of [['p99_lt_1ms', 1000], ['p99_lt_5ms', 5000], ['p99_lt_10ms', 10000]]) {
    const ok = Object.entries(levels).filter(([, v]) => v.errors === 0 && v.p99_us < bound).sort((a, b) => b[1].rps - a[1].rps)[0];
    t.frontier[k] = ok ? { rps: ok[1].rps, conc: +ok[0] } : null;
  }
  const lv32 = levels[32];
  t.cpu_ms_per_1k = lv32 ? lv32.cpu_ms_per_1k : null;
  const leak = http.find((r) => r.target === name && r.scenario === 'leak');
  if (leak) t.leak_run_requests = leak.wrk.requests;
}

// ---- memory
for (const r of recs.filter((x) => x.type === 'mem')) {
  const t = T(r.target);
  (t.mem ||= {})[`${r.what}_kib`] = r.kib;
}
for (const t of Object.values(out.targets)) {
  if (!t.mem) continue;
  if (t.levels?.[32]?.rss_mid_kib) t.mem.steady_kib = t.levels[32].rss_mid_kib;
  if (t.mem.after_load_kib && t.mem.after_leak_run_kib && t.leak_run_requests)
    t.mem.growth_kib_per_100k_req = ((t.mem.after_leak_run_kib - t.mem.after_load_kib) / t.leak_run_requests) * 1e5;
}

// ---- streaming
const streams = recs.filter((r) => r.type === 'stream');
for (const name of [...new Set(streams.map((r) => r.target))]) {
  const t = T(name);
  const reps = streams.filter((r) => r.target === name && r.scenario === 'ttft');
  if (reps.length) {
    t.stream = {
      reps: reps.length, streams_per_rep: reps[0].n, concurrency: reps[0].conc, deltas: reps[0].expect, pace_ms: reps[0].pace_ms,
      ttft_p50_us: median(reps.map((r) => r.r.ttft_us.p50)),
      ttft_p99_us: median(reps.map((r) => r.r.ttft_us.p99)),
      gap_p50_us: median(reps.map((r) => r.r.gap_us.p50)),
      gap_p99_us: median(reps.map((r) => r.r.gap_us.p99)),
      gap_max_us: Math.max(...reps.map((r) => r.r.gap_us.max)),
      errors: sum(reps.map((r) => r.r.errors + r.r.non2xx)),
      incomplete: sum(reps.map((r) => r.r.incomplete)),
      dropped_frames: sum(reps.map((r) => r.r.dropped_frames)),
      stalls: sum(reps.map((r) => r.r.stalls)),
    };
  }
  const max = streams.filter((r) => r.target === name && r.scenario === 'max').sort((a, b) => a.n - b.n);
  if (max.length) {
    const lv = max.map((r) => ({
      n: r.n, ok: r.r.ok, errors: r.r.errors + r.r.non2xx, incomplete: r.r.incomplete, dropped_frames: r.r.dropped_frames,
      stalls: r.r.stalls, ttft_stalls: r.r.ttft_stalls, ttft_p99_us: r.r.ttft_us.p99, gap_p99_us: r.r.gap_us.p99,
      gap_max_us: r.r.gap_us.max, wall_s: r.r.wall_s,
      sustained: r.r.ok === r.n && r.r.dropped_frames === 0 && r.r.stalls === 0,
      rss_base_kib: r.rss_base_kib, rss_peak_kib: r.rss_peak_kib,
      per_stream_kib: r.rss_peak_kib > 0 ? (r.rss_peak_kib - r.rss_base_kib) / r.n : null,
    }));
    const sus = lv.filter((x) => x.sustained).map((x) => x.n);
    t.max_streams = {
      levels: lv, pace_ms: max[0].pace_ms, deltas: max[0].expect,
      sustained: sus.length ? Math.max(...sus) : 0,
      first_failed: lv.find((x) => !x.sustained) || null,
      per_stream_kib: lv[lv.length - 1].per_stream_kib,
      per_stream_kib_at: lv[lv.length - 1].n,
    };
  }
}

// ---- added latency and ratios
const D = out.targets.direct;
for (const [name, t] of Object.entries(out.targets)) {
  if (name === 'direct' || !D) continue;
  const a = {};
  if (t.latency_c1 && D.latency_c1) {
    a.p50_c1_us = t.latency_c1.p50_us - D.latency_c1.p50_us;
    a.p99_c1_us = t.latency_c1.p99_us - D.latency_c1.p99_us;
  }
  if (t.stream && D.stream) {
    a.ttft_p50_us = t.stream.ttft_p50_us - D.stream.ttft_p50_us;
    a.ttft_p99_us = t.stream.ttft_p99_us - D.stream.ttft_p99_us;
    a.gap_p99_us = t.stream.gap_p99_us - D.stream.gap_p99_us;
  }
  if (Object.keys(a).length) out.added[name] = a;
}
const g = out.targets.gr, n = out.targets.nginx, p = out.targets.portkey;
const ratio = (x, y) => (x != null && y ? x / y : null);
out.ratios = {
  gr_over_nginx_max_rps: ratio(g?.max_rps?.rps, n?.max_rps?.rps),
  gr_over_nginx_rps_c32: ratio(g?.levels?.[32]?.rps, n?.levels?.[32]?.rps),
  gr_over_portkey_max_rps: ratio(g?.max_rps?.rps, p?.max_rps?.rps),
  gr_over_portkey_rps_c32: ratio(g?.levels?.[32]?.rps, p?.levels?.[32]?.rps),
  gr_over_nginx_added_p99_c1: ratio(out.added.gr?.p99_c1_us, out.added.nginx?.p99_c1_us),
  portkey_over_gr_added_p99_c1: ratio(out.added.portkey?.p99_c1_us, out.added.gr?.p99_c1_us),
  gr_over_nginx_cpu_per_1k: ratio(g?.cpu_ms_per_1k, n?.cpu_ms_per_1k),
};
const grAdded = out.added.gr?.p99_c1_us;
if (grAdded != null) {
  out.public.gr_added_p99_c1_us = grAdded;
  out.public.gr_beats = Object.entries(PUBLIC_ADDED_P99_US).filter(([, v]) => grAdded < v).map(([k]) => k);
}

// ---- micro
for (const r of recs.filter((x) => x.type === 'micro')) out.micro[r.name] = { bench: r.bench, ns_per_op: r.ns_per_op };

// ---- targets from the issue
// Timing checks are not judged when other processes disturbed the run.
const noisy = (meta.foreign_cpu_pct ?? 0) > 5;
const chk = (value, ok, goal, timing = true) => ({ value, goal, met: value == null || (timing && noisy) ? null : ok });
const gs = g?.max_streams;
out.targets_check = {
  added_p99_c1_le_100us: chk(grAdded, grAdded <= 100, '≤ 100 µs'),
  throughput_ge_0_9_nginx: chk(out.ratios.gr_over_nginx_max_rps, out.ratios.gr_over_nginx_max_rps >= 0.9, '≥ 0.9 × nginx'),
  throughput_ge_30_portkey: chk(out.ratios.gr_over_portkey_max_rps, out.ratios.gr_over_portkey_max_rps >= 30, '≥ 30 × Portkey'),
  added_ttft_p99_le_200us: chk(out.added.gr?.ttft_p99_us, out.added.gr?.ttft_p99_us <= 200, '≤ 200 µs'),
  added_gap_p99_le_10us: chk(out.added.gr?.gap_p99_us, out.added.gr?.gap_p99_us <= 10, '≤ 10 µs'),
  streams_ge_5000: chk(gs?.sustained, gs?.sustained >= 5000, '≥ 5,000'),
  idle_rss_le_10mib: chk(g?.mem?.idle_kib, g?.mem?.idle_kib <= 10240, '≤ 10 MiB', false),
  per_stream_le_32kib: chk(gs?.per_stream_kib, gs?.per_stream_kib <= 32, '≤ 32 KiB', false),
  route_decision_le_5us: chk(out.micro.route_plan_auto_3_models?.ns_per_op, out.micro.route_plan_auto_3_models?.ns_per_op <= 5000, '≤ 5 µs'),
  eip712_verify_le_100us: chk(out.micro.x402_verify_eip3009?.ns_per_op, out.micro.x402_verify_eip3009?.ns_per_op <= 100000, '≤ 100 µs'),
};

// ---------------------------------------------------------------- table
const f0 = (x) => (x == null ? '—' : Math.round(x).toLocaleString('en-US'));
const f1 = (x) => (x == null ? '—' : x.toFixed(1));
const f2 = (x) => (x == null ? '—' : x.toFixed(2));
const us = (x) => (x == null ? '—' : x >= 10000 ? `${(x / 1000).toFixed(1)} ms` : `${Math.round(x)} µs`);
const sgn = (x) => (x == null ? '—' : (x >= 0 ? '+' : '−') + us(Math.abs(x)));
const mib = (k) => (k == null ? '—' : `${(k / 1024).toFixed(1)} MiB`);
const L = [];
const row = (cells) => L.push(`| ${cells.join(' | ')} |`);
const head = (cells) => { row(cells); L.push(`|${cells.map(() => '---').join('|')}|`); };
const present = ORDER.filter((k) => out.targets[k] || out.status[k]);
const notRun = (k) => out.status[k] && out.status[k].status !== 'ok' && !out.targets[k]?.levels;

L.push(`### GateRouter benchmark (${meta.mode || '?'} run, ${meta.started || ''})`);
L.push('');
L.push(`Machine: ${meta.nproc} cores, ${meta.cpu_model}, kernel ${meta.kernel}, ${mib(meta.mem_total_kib)} RAM; servers pinned to cpu ${meta.pinning?.servers_cpu} (mock + the proxy under test share it), load generator on cpu ${meta.pinning?.load_cpu}. GateRouter ${meta.git_rev}${meta.src_dirty ? ' (+ uncommitted src changes)' : ''}, nginx ${meta.nginx}, wrk ${meta.wrk}, node ${meta.node}, Portkey ${meta.portkey}.`);
L.push('');
L.push(`Noise: other processes used ${meta.foreign_cpu_pct ?? '?'}% of the machine during the run (${meta.busy_before_pct ?? '?'}% just before it; VM steal ${meta.steal_pct ?? '?'}%).${meta.foreign_cpu_pct > 5 ? ' **Timings are disturbed: rerun on a quiet machine.**' : ''}`);
L.push('');
L.push('**Non-streaming** (closed loop, wrk 1 thread, small chat body, zero-delay mock; medians of the repetitions; added = target − direct)');
L.push('');
head(['target', 'p50 @c1', 'p99 @c1', 'added p50', 'added p99', 'req/s @c1', 'req/s @c32', 'max req/s (c)', 'frontier p99<1ms / <5ms / <10ms', 'CPU ms per 1k req', 'errors']);
for (const k of present) {
  const t = out.targets[k];
  if (notRun(k)) { row([LABELS[k] || k, `**${out.status[k].status}**`, '', '', '', '', '', '', '', '', '']); continue; }
  if (!t?.levels) continue;
  const a = out.added[k] || {};
  const fr = t.frontier;
  row([t.label, us(t.latency_c1?.p50_us), us(t.latency_c1?.p99_us), k === 'direct' ? '—' : sgn(a.p50_c1_us),
    k === 'direct' ? '—' : sgn(a.p99_c1_us), f0(t.latency_c1?.rps), f0(t.levels[32]?.rps),
    t.max_rps ? `${f0(t.max_rps.rps)} (${t.max_rps.conc})` : '—',
    [fr.p99_lt_1ms, fr.p99_lt_5ms, fr.p99_lt_10ms].map((x) => (x ? f0(x.rps) : '—')).join(' / '),
    f1(t.cpu_ms_per_1k), f0(sum(Object.values(t.levels).map((v) => v.errors)))]);
}
L.push('');
if (Object.values(out.targets).some((t) => t.levels && Object.keys(t.levels).length > 2)) {
  L.push('**Concurrency sweep** (req/s, p99)');
  L.push('');
  const cs = [...new Set(Object.values(out.targets).flatMap((t) => Object.keys(t.levels || {}).map(Number)))].sort((a, b) => a - b);
  head(['target', ...cs.map((c) => `c=${c}`)]);
  for (const k of present) {
    const t = out.targets[k];
    if (!t?.levels || Object.keys(t.levels).length < 3) continue;
    row([t.label, ...cs.map((c) => (t.levels[c] ? `${f0(t.levels[c].rps)} / ${us(t.levels[c].p99_us)}${t.levels[c].errors ? ` (${t.levels[c].errors} err)` : ''}` : '—'))]);
  }
  L.push('');
}
const st0 = Object.values(out.targets).find((t) => t.stream)?.stream;
if (st0) {
  L.push(`**Streaming** (${st0.deltas} deltas ${st0.pace_ms} ms apart; ${st0.streams_per_rep} streams × ${st0.reps} reps, ${st0.concurrency} open at a time, staggered; TTFT from the request's last byte written; gap = time between consecutive SSE events)`);
  L.push('');
  head(['target', 'TTFT p50', 'TTFT p99', 'added TTFT p50 / p99', 'gap p99', 'added gap p99', 'errors / dropped / stalls', 'max streams sustained', 'first failing level', 'per-stream memory']);
  for (const k of present) {
    const t = out.targets[k];
    if (!t?.stream) continue;
    const s = t.stream, a = out.added[k] || {}, m = t.max_streams;
    const ff = m?.first_failed;
    row([t.label, us(s.ttft_p50_us), us(s.ttft_p99_us), k === 'direct' ? '—' : `${sgn(a.ttft_p50_us)} / ${sgn(a.ttft_p99_us)}`,
      us(s.gap_p99_us), k === 'direct' ? '—' : sgn(a.gap_p99_us), `${s.errors + s.incomplete} / ${s.dropped_frames} / ${s.stalls}`,
      m ? f0(m.sustained) : '—',
      ff ? `${f0(ff.n)}: ${ff.ok} ok, ${ff.dropped_frames} dropped, ${ff.stalls} stalls, max gap ${us(ff.gap_max_us)}` : (m ? 'none' : '—'),
      m?.per_stream_kib != null ? `${f1(m.per_stream_kib)} KiB (at ${f0(m.per_stream_kib_at)})` : '—']);
  }
  L.push('');
}
L.push('**Memory** (RSS from /proc/<pid>/status; nginx = master + worker)');
L.push('');
head(['target', 'idle', 'steady (c=32)', 'after all load', 'after one more c=32 run (Δ)']);
for (const k of present) {
  const t = out.targets[k];
  if (!t?.mem) continue;
  const m = t.mem;
  const dk = m.after_leak_run_kib != null && m.after_load_kib != null ? m.after_leak_run_kib - m.after_load_kib : null;
  row([t.label, mib(m.idle_kib), mib(m.steady_kib), mib(m.after_load_kib),
    m.after_leak_run_kib == null ? '—' : `${mib(m.after_leak_run_kib)} (${dk >= 0 ? '+' : '−'}${f0(Math.abs(dk))} KiB over ${f0(t.leak_run_requests)} req)`]);
}
L.push('');
L.push('**Ratios**');
L.push('');
const R = out.ratios;
L.push(`- GateRouter ÷ nginx, max req/s: **${f2(R.gr_over_nginx_max_rps)}** (at c=32: ${f2(R.gr_over_nginx_rps_c32)}; target ≥ 0.9)`);
L.push(`- GateRouter ÷ Portkey, max req/s: **${f1(R.gr_over_portkey_max_rps)}×** (at c=32: ${f1(R.gr_over_portkey_rps_c32)}×; target ≥ 30×)`);
L.push(`- Added p99 at c=1: GateRouter ${sgn(out.added.gr?.p99_c1_us)}, nginx ${sgn(out.added.nginx?.p99_c1_us)}, Portkey ${sgn(out.added.portkey?.p99_c1_us)} ${R.portkey_over_gr_added_p99_c1 > 0 ? ` (Portkey ÷ GateRouter: ${f1(R.portkey_over_gr_added_p99_c1)}×)` : ''}${noisy ? ' — p99 at c=1 is dominated by noise in this run' : ''}`);
L.push(`- CPU per request, GateRouter ÷ nginx: ${f2(R.gr_over_nginx_cpu_per_1k)}`);
if (grAdded != null && !noisy) {
  const pub = Object.entries(PUBLIC_ADDED_P99_US).map(([k, v]) => `${k} ${us(v)}`).join(', ');
  L.push(`- Versus the public table (added p99 @c1, 4 Graviton cores: ${pub}): GateRouter's ${us(grAdded)} here is below ${out.public.gr_beats.length} of 7${out.public.gr_beats.length ? ` (${out.public.gr_beats.join(', ')})` : ''}. Public max proxy throughput: ${f0(PUBLIC_MAX_RPS)} req/s on 4 cores; public best added TTFT p99: ${us(PUBLIC_BEST_TTFT_ADDED_P99_US)}; public max streams: ${PUBLIC_MAX_STREAMS}.`);
}
L.push('');
const notes = Object.entries(out.status).filter(([, v]) => v.status !== 'ok');
if (notes.length) {
  L.push('**Not measured**');
  L.push('');
  for (const [k, v] of notes) L.push(`- ${LABELS[k] || k}: ${v.status}${v.detail ? ` — ${v.detail}` : ''}`);
  L.push('');
}
L.push('**Targets (issue #10)**');
L.push('');
head(['target', 'goal', 'measured', 'met']);
const fmtCheck = {
  added_p99_c1_le_100us: us, throughput_ge_0_9_nginx: f2, throughput_ge_30_portkey: (x) => (x == null ? '—' : `${f1(x)}×`),
  added_ttft_p99_le_200us: sgn, added_gap_p99_le_10us: sgn, streams_ge_5000: f0, idle_rss_le_10mib: mib,
  per_stream_le_32kib: (x) => (x == null ? '—' : `${f1(x)} KiB`), route_decision_le_5us: (x) => (x == null ? '—' : `${f0(x)} ns`),
  eip712_verify_le_100us: (x) => (x == null ? '—' : `${f1(x / 1000)} µs`),
};
for (const [k, v] of Object.entries(out.targets_check))
  row([k, v.goal, fmtCheck[k](v.value), v.met == null ? (v.value != null && noisy ? 'not judged (noisy run)' : '—') : v.met ? 'yes' : '**no**']);
L.push('');
if (Object.keys(out.micro).length) {
  L.push('**Micro-benchmarks** (ns/op, median of 5 batches, pinned to the servers\' core)');
  L.push('');
  head(['benchmark', 'ns/op']);
  for (const [k, v] of Object.entries(out.micro)) row([k, f1(v.ns_per_op)]);
  L.push('');
}

const table = L.join('\n');
process.stdout.write(table + '\n');
writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n');
if (args.latest) copyFileSync(args.out, args.latest);
if (args.table) writeFileSync(args.table, table + '\n');
