#!/usr/bin/env node
// eval.mjs — held-out evaluation of the auto router (the C model compiled into
// route_features, i.e. exactly what the gateway runs) on the TEST part of the RouteLLM
// evaluation set: quality-vs-cost curve against always-strong, always-weak and random
// routing at the same strong-call rate; APGR, CPT(50%), CPT(80%), cost saved at 95 % of
// strong quality; per benchmark, next to the RouteLLM paper and the two commercial
// routers (MT-Bench). Writes docs/route_eval.svg and docs/route_eval.md.
// Usage: node tools/route/eval.mjs [--quick] [--no-write] [--features PATH] [--data DIR]
//   --quick     small slice (CI, < 30 s); exits 1 unless APGR beats random routing
//   --no-write  print only
import fs from 'node:fs';
import path from 'node:path';
import { BENCHES, REPO, costSaved, extract, findDataDir, findFeatureTool, label, loadAll, loadCommercial,
  metrics, predict, trainLR } from './lib.mjs';

const t0 = Date.now();
const args = process.argv.slice(2);
const has = (k) => args.includes(k);
const opt = (k) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const quick = has('--quick');
const write = !has('--no-write') && !quick;
const dataDir = findDataDir(opt('--data'));
const tool = findFeatureTool(opt('--features'));

// Prices used for "cost saved" (USD per Mtok, 1:1 input:output as in RouteLLM's
// benchmarks/README.md): gpt-4-1106-preview $10 in / $30 out -> $20; Mixtral-8x7B
// ~$0.60 (typical hosted price). Ratio weak/strong:
const STRONG_PRICE = 20.0, WEAK_PRICE = 0.6;
const RATIO = WEAK_PRICE / STRONG_PRICE;

// Published figures (Ong et al. 2024, "RouteLLM", arXiv 2406.18665; best router per
// benchmark, trained with data augmentation) and the commercial routers measured by
// the RouteLLM authors (lm-sys/RouteLLM benchmarks/README.md).
const PAPER = {
  mtbench: { router: 'Matrix factorization (D_arena + D_judge)', apgr: 0.802, cpt50: 0.134, cpt80: 0.313, random_cpt50: 0.4903 },
  mmlu: { router: 'SW ranking / causal LLM (D_arena + D_gold)', apgr: 0.603, cpt50: 0.354, cpt80: 0.703 },
  gsm8k: { router: 'Causal LLM (D_arena + D_gold)', apgr: 0.622, cpt50: 0.336, cpt80: 0.633 },
};

const { items, dropped } = loadAll(dataDir);
let test = items.filter((it) => it.test);
if (quick) {
  // every test prompt of GSM8K and MT-Bench, every 4th of MMLU (all subjects)
  const seen = {};
  test = test.filter((it) => it.bench !== 'mmlu' || (seen.mmlu = (seen.mmlu || 0) + 1) % 4 === 0);
}
const feats = extract(tool, test);
const scores = feats.map((f) => f.score);

const results = {};
for (const b of BENCHES) {
  const ids = test.map((it, i) => (it.bench === b ? i : -1)).filter((i) => i >= 0);
  if (!ids.length) continue;
  const its = ids.map((i) => test[i]);
  const m = metrics(its, ids.map((i) => scores[i]));
  const gap = m.qs - m.qw;
  const randR95 = gap > 0 ? Math.max(0, Math.min(1, (0.95 * m.qs - m.qw) / gap)) : 0;
  // operating points of the named policies (two tiers: strong iff percentile > 1 - knob)
  const op = {};
  for (const [name, knob] of [['auto:cheap', 0.25], ['auto:balanced', 0.5]]) {
    const sel = ids.map((i) => feats[i].pct > 1 - knob);
    const rate = sel.filter(Boolean).length / ids.length;
    const q = ids.reduce((s, i, k) => s + (sel[k] ? test[i].strong : test[i].weak), 0) / ids.length;
    op[name] = { rate, quality: q };
  }
  results[b] = { m, randR95, op, n: ids.length, tasks: countTasks(ids.map((i) => feats[i].task)) };
}

function countTasks(ts) { const c = {}; for (const t of ts) c[t] = (c[t] || 0) + 1; return c; }

// commercial routers on the same held-out MT-Bench questions
const comm = loadCommercial(dataDir);
const mtTest = test.filter((it) => it.bench === 'mtbench');
const commRows = [];
if (results.mtbench) {
  const mt = results.mtbench.m;
  const autoAt = (r) => { // auto quality at strong-call rate r (interpolated)
    const p = mt.pts; for (let i = 1; i < p.length; i++) if (p[i].rate >= r) {
      const a = p[i - 1], b = p[i]; return a.quality + ((r - a.rate) / (b.rate - a.rate || 1)) * (b.quality - a.quality); }
    return p[p.length - 1].quality;
  };
  for (const name of ['unify', 'martian']) {
    const c = comm[name];
    if (!c) continue;
    const qs = mtTest.filter((it) => c.score[it.qid] !== undefined);
    if (!qs.length) continue;
    const score = qs.reduce((s, it) => s + c.score[it.qid], 0) / qs.length;
    const known = qs.filter((it) => c.strongCalls[it.qid] !== null && c.strongCalls[it.qid] !== undefined);
    const rate = known.length ? known.reduce((s, it) => s + c.strongCalls[it.qid], 0) / known.length : 0.5;
    const estimated = !known.length;
    const pgr = (score - mt.qw) / (mt.qs - mt.qw);
    commRows.push({ name, n: qs.length, score, rate, estimated, pgr, auto: autoAt(rate) });
  }
}

// leave-one-benchmark-out: train on the other two benchmarks' train parts only
let lobo = null;
if (!quick) {
  lobo = {};
  const train = items.filter((it) => !it.test);
  const tf = extract(tool, train);
  for (const b of BENCHES) {
    const tr = train.map((it, i) => (it.bench !== b ? i : -1)).filter((i) => i >= 0);
    const cnt = {}; for (const i of tr) cnt[train[i].bench] = (cnt[train[i].bench] || 0) + 1;
    const w = trainLR(tr.map((i) => tf[i].x), tr.map((i) => label(train[i])), tr.map((i) => 1 / Math.sqrt(cnt[train[i].bench])),
      { lambda: 1e-2, epochs: 300, offset: tr.map((i) => tf[i].prior) });
    const ids = test.map((it, i) => (it.bench === b ? i : -1)).filter((i) => i >= 0);
    lobo[b] = metrics(ids.map((i) => test[i]), ids.map((i) => predict(w, feats[i].x, feats[i].prior))).apgr;
  }
}

// ---- report ----
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const f3 = (x) => x.toFixed(3);
const lines = [];
lines.push(`Held-out evaluation of the auto router${quick ? ' (QUICK slice)' : ''} — ${test.length} test prompts, ` +
  `contaminated prompts dropped: ${JSON.stringify(dropped)}`);
lines.push('');
lines.push('| benchmark | n | weak | strong | APGR auto | APGR random | CPT(50%) auto / random | CPT(80%) auto / random | strong calls for 95% of strong quality: auto / random | cost saved at 95%: auto / random | paper best: APGR, CPT(50%), CPT(80%) |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
for (const b of BENCHES) {
  const r = results[b]; if (!r) continue;
  const m = r.m, p = PAPER[b];
  const fmtQ = (q) => (b === 'mtbench' ? q.toFixed(2) : pct(q));
  lines.push(`| ${b} | ${r.n} | ${fmtQ(m.qw)} | ${fmtQ(m.qs)} | **${f3(m.apgr)}** | 0.500 | ${pct(m.cpt50)} / 50.0% | ${pct(m.cpt80)} / 80.0% | ${pct(m.r95)} / ${pct(r.randR95)} | ${pct(costSaved(m.r95, RATIO))} / ${pct(costSaved(r.randR95, RATIO))} | ${f3(p.apgr)}, ${pct(p.cpt50)}, ${pct(p.cpt80)} (${p.router}) |`);
}
lines.push('');
lines.push('Named policies on the held-out prompts (two tiers; strong share and quality):');
lines.push('');
lines.push('| benchmark | auto:cheap (knob 0.25) | auto:balanced (knob 0.5) |');
lines.push('|---|---|---|');
for (const b of BENCHES) {
  const r = results[b]; if (!r) continue;
  const fmtQ = (q) => (b === 'mtbench' ? q.toFixed(2) : pct(q));
  lines.push(`| ${b} | ${pct(r.op['auto:cheap'].rate)} strong, quality ${fmtQ(r.op['auto:cheap'].quality)} | ${pct(r.op['auto:balanced'].rate)} strong, quality ${fmtQ(r.op['auto:balanced'].quality)} |`);
}
if (commRows.length) {
  lines.push('');
  lines.push(`Commercial routers on the same ${results.mtbench.n} held-out MT-Bench questions (GPT-4 judge, 1–10):`);
  lines.push('');
  lines.push('| router | strong (GPT-4) calls | MT-Bench score | PGR | auto router at the same strong-call rate |');
  lines.push('|---|---|---|---|---|');
  for (const c of commRows)
    lines.push(`| ${c.name} | ${pct(c.rate)}${c.estimated ? ' (estimated by RouteLLM authors)' : ''} | ${c.score.toFixed(3)} | ${f3(c.pgr)} | ${c.auto.toFixed(3)} |`);
}
if (lobo) {
  lines.push('');
  lines.push('Cross-benchmark generalisation (train on the other two benchmarks only, test on this one): APGR ' +
    BENCHES.map((b) => `${b} ${f3(lobo[b])}`).join(', '));
}
lines.push('');
lines.push(`Cost model: strong $${STRONG_PRICE}/Mtok, weak $${WEAK_PRICE}/Mtok (1:1 input:output); cost saved is relative to always-strong.`);
const report = lines.join('\n');
console.log(report);

if (write) {
  const docs = path.join(REPO, 'docs');
  fs.mkdirSync(docs, { recursive: true });
  fs.writeFileSync(path.join(docs, 'route_eval.md'), `<!-- GENERATED by tools/route/eval.mjs; do not edit -->\n${report}\n`);
  fs.writeFileSync(path.join(docs, 'route_eval.svg'), svg());
  console.log(`wrote docs/route_eval.md, docs/route_eval.svg`);
}

function svg() {
  const W = 330, H = 300, M = { l: 52, r: 14, t: 34, b: 46 };
  const panels = BENCHES.filter((b) => results[b]);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H + 40}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`];
  panels.forEach((b, k) => {
    const r = results[b], m = r.m;
    const x0 = k * W;
    let lo = Math.min(m.qw, m.qs), hi = Math.max(m.qw, m.qs);
    for (const c of b === 'mtbench' ? commRows : []) { lo = Math.min(lo, c.score); hi = Math.max(hi, c.score); }
    const pad = (hi - lo) * 0.12 || 0.01; lo -= pad; hi += pad;
    const X = (rate) => x0 + M.l + rate * (W - M.l - M.r);
    const Y = (q) => M.t + (1 - (q - lo) / (hi - lo)) * (H - M.t - M.b);
    out.push(`<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${b === 'mtbench' ? 'MT-Bench' : b.toUpperCase()} (n=${r.n}, APGR ${m.apgr.toFixed(3)})</text>`);
    out.push(`<rect x="${X(0)}" y="${Y(hi)}" width="${X(1) - X(0)}" height="${Y(lo) - Y(hi)}" fill="none" stroke="#999"/>`);
    for (let t = 0; t <= 4; t++) {
      const rr = t / 4, q = lo + ((hi - lo) * t) / 4;
      out.push(`<line x1="${X(rr)}" y1="${Y(lo)}" x2="${X(rr)}" y2="${Y(lo) + 4}" stroke="#999"/><text x="${X(rr)}" y="${Y(lo) + 15}" text-anchor="middle">${t * 25}%</text>`);
      out.push(`<text x="${X(0) - 5}" y="${Y(q) + 4}" text-anchor="end">${b === 'mtbench' ? q.toFixed(2) : (100 * q).toFixed(1)}</text>`);
    }
    out.push(`<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle">strong-model calls (cost →)</text>`);
    out.push(`<text transform="translate(${x0 + 12},${(H) / 2}) rotate(-90)" text-anchor="middle">${b === 'mtbench' ? 'judge score' : 'accuracy %'}</text>`);
    out.push(`<line x1="${X(0)}" y1="${Y(m.qw)}" x2="${X(1)}" y2="${Y(m.qs)}" stroke="#888" stroke-dasharray="5,4"/>`);
    const step = Math.max(1, Math.floor(m.pts.length / 300));
    const pts = m.pts.filter((_, i) => i % step === 0 || i === m.pts.length - 1).map((p) => `${X(p.rate).toFixed(1)},${Y(p.quality).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
    out.push(`<line x1="${X(0)}" y1="${Y(0.95 * m.qs)}" x2="${X(1)}" y2="${Y(0.95 * m.qs)}" stroke="#2ca02c" stroke-dasharray="2,3"/>`);
    out.push(`<circle cx="${X(0)}" cy="${Y(m.qw)}" r="4" fill="#d62728"/><circle cx="${X(1)}" cy="${Y(m.qs)}" r="4" fill="#000"/>`);
    if (b === 'mtbench')
      for (const c of commRows)
        out.push(`<rect x="${X(c.rate) - 4}" y="${Y(c.score) - 4}" width="8" height="8" fill="${c.name === 'unify' ? '#ff7f0e' : '#9467bd'}"/><text x="${X(c.rate) + 7}" y="${Y(c.score) + 4}">${c.name}</text>`);
  });
  const ly = H + 22;
  out.push(`<g transform="translate(20,${ly})"><line x1="0" y1="0" x2="22" y2="0" stroke="#1f77b4" stroke-width="2"/><text x="27" y="4">auto router (held-out)</text>` +
    `<line x1="170" y1="0" x2="192" y2="0" stroke="#888" stroke-dasharray="5,4"/><text x="197" y="4">random at the same strong-call rate</text>` +
    `<circle cx="420" cy="0" r="4" fill="#d62728"/><text x="428" y="4">always weak (Mixtral-8x7B)</text>` +
    `<circle cx="600" cy="0" r="4" fill="#000"/><text x="608" y="4">always strong (GPT-4)</text>` +
    `<line x1="750" y1="0" x2="772" y2="0" stroke="#2ca02c" stroke-dasharray="2,3"/><text x="777" y="4">95% of strong</text>` +
    `<rect x="866" y="-4" width="8" height="8" fill="#ff7f0e"/><text x="878" y="4">commercial routers</text></g>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---- CI assertion ----
let ok = true;
for (const b of ['gsm8k', 'mmlu']) {
  if (results[b] && !(results[b].m.apgr > 0.5)) { console.error(`FAIL: ${b} APGR ${f3(results[b].m.apgr)} is not above random (0.500)`); ok = false; }
}
const meanApgr = BENCHES.filter((b) => results[b]).reduce((s, b) => s + results[b].m.apgr, 0) / BENCHES.filter((b) => results[b]).length;
if (!(meanApgr > 0.5)) { console.error(`FAIL: mean APGR ${f3(meanApgr)} is not above random (0.500)`); ok = false; }
console.log(`mean APGR ${f3(meanApgr)} vs random 0.500 — ${ok ? 'PASS' : 'FAIL'} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(ok ? 0 : 1);
