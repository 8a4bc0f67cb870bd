#!/usr/bin/env node
// eval.mjs — held-out-by-task evaluation of the auto router's expected-value choice.
// For each task family T (arc, mbpp, gsm8k, mmlu, mtbench) the per-prompt model is
// retrained (model.mjs, same code and hyper-parameters as train.mjs) on every other task and
// evaluated on T's prompts with real per-prompt outcomes and costs: RouterBench's 11 models
// (ARC, MBPP; real cost per prompt) and RouteLLM's GPT-4 / Mixtral pair (GSM8K, MMLU,
// MT-Bench; list prices). Reports auto's quality-per-cost curve (the value knob swept) against
// every single model, their frontier and random two-model splits, the named policies, the
// targets, and within-task AUC of the difficulty signal; writes docs/route_eval.{md,svg}.
// Also reports the held-out calibration of P(good) (reliability bins, ECE, Brier, each model's mean
// prediction against its real quality).
// Usage: node tools/route/eval.mjs [--features PATH] [--data DIR] [--no-write] [--assert]
//          [--tasks arc,mbpp]       only these folds
//          [--opts JSON]            training variant (model.mjs train opts: skillBias, generalBias,
//                                   center, skillL2), for the comparisons in docs/ROUTING.md
//          [--fixture FILE.jsonl]   evaluate the compiled-in model on a small fixture
//          [--quick]                CI slice: compiled-in model on 300 RouterBench prompts (and
//                                   C/JS parity also over the small-talk slice)
// --assert: exit 1 unless every point of auto's curve is on/above the single-model frontier at
// its cost (tolerance 0.005) — the tests use it on fixtures built to pass and to fail.
import fs from 'node:fs';
import path from 'node:path';
import { REPO, findDataDir, findFeatureTool } from './lib.mjs';
import { RB_PRICES, RL_PRICES, loadEverything, loadSmallTalk, normId } from './data.mjs';
import { NHASH, NOUT, abilityOf, choose, extract, knobToUsd, learnedTable, loadAbilityTable, predictOne, quality, train } from './model.mjs';
import { CAP, capItems } from './train.mjs';

const args = process.argv.slice(2);
const opt = (k) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const has = (k) => args.includes(k);
const tool = findFeatureTool(opt('--features'));
const table = opt('--abilities') ? loadAbilityTable(opt('--abilities')) : loadAbilityTable(); // --abilities FILE: another table
const fixture = opt('--fixture');
const quick = has('--quick');
const write = !has('--no-write') && !fixture && !quick;
const TOL = 0.005;
// --opts '{"skillBias":false}': training variants (model.mjs train opts), for the measured comparisons
const trainOpts = opt('--opts') ? JSON.parse(opt('--opts')) : {};
// --tasks arc,mbpp: only these held-out folds
const onlyTasks = opt('--tasks') ? opt('--tasks').split(',') : null;

// ---- the compiled-in weights, parsed from the generated header (parity check) ----
function headerWeights() {
  const t = fs.readFileSync(path.join(REPO, 'src', 'route', 'route_auto_weights.h'), 'utf8');
  const nums = (s) => (s.match(/-?\d+(\.\d+)?(e-?\d+)?/g) || []).map(Number);
  const block = (name) => { const i = t.indexOf(name); const j = t.indexOf('};', i); return t.slice(t.indexOf('=', i) + 1, j); };
  const alpha = Number(t.match(/gr_auto_alpha = ([^f;]+)f?;/)[1]);
  const dense = Float64Array.from(nums(block('gr_auto_dense_w[')));
  const scale = Float64Array.from(nums(block('gr_auto_hash_scale[')));
  const q = nums(block('gr_auto_hash_w['));
  const hash = new Float64Array(NHASH * NOUT);
  for (let b = 0; b < NHASH; b++) for (let o = 0; o < NOUT; o++) hash[b * NOUT + o] = q[b * NOUT + o] * scale[o];
  const ah = fs.readFileSync(path.join(REPO, 'src', 'route', 'route_auto_abilities.h'), 'utf8');
  const rows = [...ah.matchAll(/\{"([^"]*)", \{([^}]*)\}, 0x[0-9a-f]{2}, (-?[0-9.]+)f,/g)];
  const tab = { ...table, rows: rows.map((m) => ({ ids: m[1].split(' '), a: m[2].split(',').map((v) => parseFloat(v)) })), bias: rows.map((m) => Number(m[3])) };
  return { alpha, dense, hash, tab };
}

// ---- one evaluation set: items with outcomes + costs of the same models ----
// the cost-target controller's defaults (routing.auto.cost_controller, route_auto_budget.c)
const BUDGET = { gain: 0.05, window: 64 };
const VS = [0, ...Array.from({ length: 41 }, (_, i) => 10 ** (-5 + (i * 7) / 40)), Infinity];

function evaluate(name, items, preds, prices) {
  const models = Object.keys(items[0].outcomes).filter((m) => items.every((it) => it.outcomes[m] !== undefined && it.cost[m] !== undefined));
  const ab = models.map((m) => abilityOf(table, m, { outPrice: prices[m] ? prices[m][1] : 0 }));
  const n = items.length;
  const single = models.map((m) => ({ m, q: items.reduce((s, it) => s + it.outcomes[m], 0) / n, c: (items.reduce((s, it) => s + it.cost[m], 0) / n) * 1000 }));
  // per prompt predicted quality and expected cost (the gateway's view)
  const Q = [], C = [];
  items.forEach((it, i) => {
    const pt = Buffer.byteLength(it.turns.join('')) / 4;
    const tab = preds.p[i].tab || table; // the fold's learned abilities and biases
    Q.push(models.map((m) => { const a = abilityOf(tab, m, { outPrice: prices[m] ? prices[m][1] : 0 }); return quality(preds.W, preds.p[i], a.a, a.bias); }));
    C.push(models.map((m) => (pt * prices[m][0] + preds.p[i].out * prices[m][1]) / 1e6));
  });
  // held-out calibration of P(good): reliability bins over every (prompt, model), ECE, Brier,
  // and each model's mean prediction against its real mean quality
  const cal = (() => {
    const bins = Array.from({ length: 10 }, () => ({ n: 0, p: 0, y: 0 }));
    const per = models.map((m) => ({ m, p: 0, y: 0 }));
    let brier = 0;
    items.forEach((it, i) => models.forEach((m, k) => {
      const p = Q[i][k], y = it.outcomes[m], b = bins[Math.min(9, Math.floor(p * 10))];
      b.n++; b.p += p; b.y += y; brier += (p - y) ** 2; per[k].p += p / n; per[k].y += y / n;
    }));
    const N = n * models.length;
    return { bins, per, brier: brier / N, ece: bins.reduce((a, b) => a + Math.abs(b.p - b.y), 0) / N,
      worst: per.reduce((a, b) => (Math.abs(b.p - b.y) > Math.abs(a.p - a.y) ? b : a)) };
  })();
  const pointAt = (v) => {
    let q = 0, c = 0; const share = new Array(models.length).fill(0);
    items.forEach((it, i) => { const k = choose(Q[i], C[i], v); q += it.outcomes[models[k]]; c += it.cost[models[k]]; share[k]++; });
    return { v, q: q / n, c: (c / n) * 1000, share: share.map((s) => s / n) };
  };
  // the knob values where some prompt's choice changes (upper hull of v*q - c per prompt),
  // so the curve has every point a caller can reach; at most 400 of them (quantiles)
  const brk = [];
  for (let i = 0; i < n; i++) {
    let v = 0, k = choose(Q[i], C[i], 0);
    for (let guard = 0; guard < models.length; guard++) {
      let next = Infinity, nk = -1;
      for (let j = 0; j < models.length; j++) {
        if (Q[i][j] <= Q[i][k]) continue;
        const t = (C[i][j] - C[i][k]) / (Q[i][j] - Q[i][k]);
        if (t >= v && t < next) { next = t; nk = j; }
      }
      if (nk < 0 || !Number.isFinite(next)) break;
      brk.push(next * 1.000001);
      v = next; k = nk;
    }
  }
  brk.sort((a, b) => a - b);
  const vs = [...VS, ...Array.from({ length: Math.min(400, brk.length) }, (_, j) => brk[Math.floor((j * brk.length) / Math.min(400, brk.length))])];
  const curve = vs.sort((a, b) => a - b).map(pointAt);
  // oracle: per prompt the best outcome, the cheapest model among equals
  const oracle = (() => {
    let q = 0, c = 0;
    for (const it of items) {
      const m = models.reduce((a, b) => (it.outcomes[b] > it.outcomes[a] || (it.outcomes[b] === it.outcomes[a] && it.cost[b] < it.cost[a]) ? b : a));
      q += it.outcomes[m]; c += it.cost[m];
    }
    return { q: q / n, c: (c / n) * 1000 };
  })();
  // frontiers: step (cheapest single model with quality >= x) and random two-model splits (upper hull)
  const A = (B) => Math.max(0, ...curve.filter((p) => p.c <= B + 1e-12).map((p) => p.q));
  const step = (B) => Math.max(-Infinity, ...single.filter((s) => s.c <= B + 1e-12).map((s) => s.q));
  const hull = (B) => { let best = step(B); for (const a of single) for (const b of single) if (a.c <= B && b.c > B) { const t = (B - a.c) / (b.c - a.c); best = Math.max(best, a.q + t * (b.q - a.q)); } return best; };
  const strongest = single.reduce((a, b) => (b.q > a.q || (b.q === a.q && b.c < a.c) ? b : a));
  const cmin = Math.min(...single.map((s) => s.c));
  const budgets = single.map((s) => s.c).filter((c) => c >= cmin);
  // every point of auto's curve against the best single model at no more than its cost
  const stepMargin = Math.min(...curve.filter((p) => p.c >= cmin).map((p) => p.q - step(p.c)));
  void budgets;
  const grid = Array.from({ length: 40 }, (_, i) => cmin * (strongest.c / cmin) ** (i / 39));
  const hullMargins = grid.map((B) => A(B) - hull(B));
  // within-task AUC of the difficulty signal
  const cheapest = single.reduce((a, b) => (b.c < a.c ? b : a)).m;
  const d = preds.p.map((p) => p.difficulty);
  const auc = (lab) => { const pos = [], neg = []; d.forEach((v, i) => (lab[i] ? pos : neg).push(v)); if (!pos.length || !neg.length) return NaN; let s = 0; for (const a of pos) for (const b of neg) s += a > b ? 1 : a === b ? 0.5 : 0; return s / (pos.length * neg.length); };
  const thr = (v) => v >= 0.5;
  const aucGap = auc(items.map((it) => thr(it.outcomes[strongest.m]) && !thr(it.outcomes[cheapest])));
  const aucHard = auc(items.map((it) => models.filter((m) => thr(it.outcomes[m])).length < models.length / 2));
  // cost-target mode (route_auto_budget.c): the controller run over the prompts in a fixed-seed
  // shuffled order, fed with the expected cost of each choice and then its bill, as the gateway
  // does (here the bill arrives before the next decision); the achieved spend is the real cost. Targets: shares of the strongest model's $/1k.
  const targets = [0.05, 0.1, 0.2, 0.5].map((f) => {
    const t = (f * strongest.c) / 1000; // USD per request
    let lv = Math.log(0.03162), ew = t, q = 0, c = 0, seed = 7;
    const order = items.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) { seed = (seed * 1103515245 + 12345) % 2147483648; const j = seed % (i + 1); [order[i], order[j]] = [order[j], order[i]]; }
    for (const i of order) {
      const k = choose(Q[i], C[i], Math.exp(lv));
      q += items[i].outcomes[models[k]]; c += items[i].cost[models[k]];
      // fed the expected cost at the decision, then the bill replaces it (route_budget_bill.c)
      ew += (C[i][k] - ew) / BUDGET.window + (items[i].cost[models[k]] - C[i][k]) / BUDGET.window;
      lv = Math.min(Math.log(1000), Math.max(Math.log(1e-6), lv - BUDGET.gain * Math.log(Math.max(ew, t * 1e-3) / t)));
    }
    return { share: f, target: t * 1000, q: q / n, c: (c / n) * 1000 };
  });
  const named = Object.fromEntries([['cheap', 0.25], ['balanced', 0.5], ['best', 1]].map(([k, v]) => [k, pointAt(knobToUsd(v))]));
  return { name, n, models, ab: ab.map((a) => a.how), single, curve, oracle, strongest, stepMargin, hullMargins, grid,
    hullAbove: hullMargins.filter((m) => m >= -TOL).length / grid.length, minHull: Math.min(...hullMargins),
    at20: A(0.2 * strongest.c) / strongest.q, at50: A(0.5 * strongest.c) / strongest.q, aucGap, aucHard, named, cal, targets };
}

function report(r) {
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  console.log(`\n== ${r.name}: ${r.n} prompts, ${r.models.length} models (abilities: ${r.ab.join(',')})`);
  for (const s of r.single.slice().sort((a, b) => a.c - b.c)) console.log(`   ${s.m.padEnd(30)} quality ${s.q.toFixed(3)}  $${s.c.toFixed(3)}/1k`);
  console.log(`   oracle quality ${r.oracle.q.toFixed(3)} at $${r.oracle.c.toFixed(3)}/1k`);
  for (const [k, p] of Object.entries(r.named)) console.log(`   auto:${k.padEnd(9)} quality ${p.q.toFixed(3)} at $${p.c.toFixed(3)}/1k`);
  console.log(`   min margin of auto's points over the single-model frontier at the same cost: ${r.stepMargin.toFixed(4)}; at/above random splits at ${pct(r.hullAbove)} of 40 budgets (min margin ${r.minHull.toFixed(4)})`);
  console.log(`   best quality at <=20% of ${r.strongest.m}'s cost: ${pct(r.at20)} of its quality; at <=50%: ${pct(r.at50)}`);
  console.log(`   calibration (held out): ECE ${r.cal.ece.toFixed(3)}, Brier ${r.cal.brier.toFixed(3)}; reliability ${r.cal.bins.filter((b) => b.n).map((b) => `${(b.p / b.n).toFixed(2)}->${(b.y / b.n).toFixed(2)} (${b.n})`).join(', ')}`);
  console.log(`   mean predicted vs real quality: ${r.cal.per.map((x) => `${x.m} ${x.p.toFixed(2)}/${x.y.toFixed(2)}`).join('; ')}`);
  console.log(`   cost targets (auto:$X): ${r.targets.map((t) => `$${t.target.toFixed(3)} -> $${t.c.toFixed(3)} at quality ${t.q.toFixed(3)}`).join('; ')}`);
  console.log(`   within-task AUC of difficulty: strong-right-and-cheapest-wrong ${r.aucGap.toFixed(3)}, most-models-wrong ${r.aucHard.toFixed(3)}`);
}

function predsOf(W, F, tab) { return { W, p: F.map((f) => ({ ...predictOne(W, f), alpha: W.alpha, tab })) }; }

// ---- fixture / quick: the compiled-in model ----
if (fixture || quick) {
  let items, prices;
  if (fixture) {
    items = fs.readFileSync(fixture, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    for (const it of items) { it.turns = [it.prompt]; it.task = 'fixture'; }
    prices = JSON.parse(fs.readFileSync(fixture.replace(/\.jsonl$/, '.prices.json'), 'utf8'));
  } else {
    const all = loadEverything(findDataDir(opt('--data'))).filter((it) => it.set === 'routerbench');
    items = capItems(all, 150);
    prices = RB_PRICES;
  }
  const F = extract(tool, items);
  const W = headerWeights();
  const preds = predsOf(W, F, W.tab);
  // train/serve parity on the evaluated prompts plus a fixed set unlike them (our small-talk slice:
  // greetings, formatting asks), where a feature the two sides compute differently would show
  const extra = loadSmallTalk();
  const FX = extract(tool, extra), PX = predsOf(W, FX, W.tab);
  let parity = 0;
  [[F, preds], [FX, PX]].forEach(([FF, PP]) => FF.forEach((f, i) => {
    parity = Math.max(parity, Math.abs(f.c.difficulty - PP.p[i].difficulty), Math.abs(f.c.out - PP.p[i].out) / Math.max(1, f.c.out),
      ...f.c.skill.map((v, k) => Math.abs(v - PP.p[i].skill[k])));
  }));
  console.log(`train/serve parity over ${F.length + FX.length} prompts: max |C - JS| prediction difference ${parity.toExponential(2)}`);
  const r = evaluate(fixture ? path.basename(fixture) : 'routerbench quick slice', items, preds, prices);
  report(r);
  const fail = [];
  if (parity > 2e-3) fail.push(`C and JS predictions differ by ${parity}`);
  if (r.stepMargin < -TOL) fail.push(`auto is below the single-model frontier (margin ${r.stepMargin.toFixed(4)})`);
  if ((has('--assert') && fail.length) || parity > 2e-3) { console.log(`FAIL: ${fail.join('; ')}`); process.exit(1); }
  console.log(fail.length ? `targets missed: ${fail.join('; ')}` : 'OK');
  process.exit(0);
}

// ---- full held-out-by-task evaluation ----
const all = loadEverything(findDataDir(opt('--data'))).filter((it) => !(trainOpts.noSmalltalk && it.assumed));
const FOLDS = [['arc', 'routerbench', RB_PRICES], ['mbpp', 'routerbench', RB_PRICES], ['gsm8k', 'routellm', RL_PRICES],
  ['mmlu', 'routellm', RL_PRICES], ['mtbench', 'routellm', RL_PRICES]];
const results = [];
const rbParts = [];
for (const [task, set, prices] of FOLDS) {
  if (onlyTasks && !onlyTasks.includes(task)) continue;
  const trainItems = capItems(all.filter((it) => it.task !== task), CAP);
  const evalItems = capItems(all.filter((it) => it.task === task && it.set === set), 3000);
  const t0 = Date.now();
  const W = train(trainItems, extract(tool, trainItems), table, { opts: trainOpts });
  const preds = predsOf(W, extract(tool, evalItems), learnedTable(table, W));
  const r = evaluate(`${task} (${set}, trained without ${task})`, evalItems, preds, prices);
  r.task = task; r.trainN = trainItems.length; r.secs = (Date.now() - t0) / 1000;
  report(r);
  results.push(r);
  if (set === 'routerbench') rbParts.push({ evalItems, preds });
}
if (rbParts.length === 2) { // RouterBench overall: both held-out tasks pooled under one knob; each prompt keeps its fold's model
  const items = rbParts.flatMap((p) => p.evalItems);
  const r = evaluate('routerbench overall (arc + mbpp, each held out)', items, { W: {}, p: rbParts.flatMap((p) => p.preds.p) }, RB_PRICES);
  r.task = 'routerbench overall';
  report(r);
  results.push(r);
}

// ---- docs ----
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const yes = (b) => (b ? 'yes' : '**no**');
function svg(rs) {
  const W = 360, H = 250, M = { l: 46, r: 10, t: 22, b: 34 }, cols = 3;
  const rows = Math.ceil(rs.length / cols);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W * cols}" height="${H * rows + 24}" font-family="sans-serif" font-size="10">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="6" y="14" font-size="12">auto (blue, value knob swept) vs single models (dots), their frontier (grey steps) and random two-model splits (dashed); x: USD per 1k prompts (log), y: quality</text>`];
  rs.forEach((r, idx) => {
    const ox = (idx % cols) * W, oy = 24 + Math.floor(idx / cols) * H;
    const cs = [...r.single.map((s) => s.c), ...r.curve.map((p) => p.c)].filter((c) => c > 0);
    const x0 = Math.log10(Math.min(...cs)) - 0.1, x1 = Math.log10(Math.max(...cs)) + 0.1;
    const qs = [...r.single.map((s) => s.q), ...r.curve.map((p) => p.q)];
    const y0 = Math.max(0, Math.min(...qs) - 0.03), y1 = Math.min(1, Math.max(...qs, r.oracle.q) + 0.03);
    const X = (c) => ox + M.l + ((Math.log10(Math.max(c, 1e-9)) - x0) / (x1 - x0)) * (W - M.l - M.r);
    const Y = (q) => oy + H - M.b - ((q - y0) / (y1 - y0)) * (H - M.t - M.b);
    out.push(`<rect x="${ox + M.l}" y="${oy + M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#999"/>`);
    out.push(`<text x="${ox + M.l}" y="${oy + 14}" font-size="11">${r.task}: ${r.n} prompts</text>`);
    for (let k = 0; k <= 4; k++) { const q = y0 + ((y1 - y0) * k) / 4; out.push(`<text x="${ox + 4}" y="${Y(q) + 3}">${q.toFixed(2)}</text>`); }
    for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) out.push(`<text x="${X(10 ** e) - 8}" y="${oy + H - M.b + 12}">$${10 ** e >= 1 ? 10 ** e : (10 ** e).toPrecision(1)}</text>`);
    const ss = r.single.slice().sort((a, b) => a.c - b.c);
    let best = -Infinity, stepPts = [];
    for (const s of ss) { if (s.q > best) { if (stepPts.length) stepPts.push([X(s.c), Y(best)]); stepPts.push([X(s.c), Y(s.q)]); best = s.q; } }
    stepPts.push([ox + W - M.r, Y(best)]);
    out.push(`<polyline fill="none" stroke="#bbb" stroke-width="2" points="${stepPts.map((p) => p.join(',')).join(' ')}"/>`);
    // upper hull of single models
    const hp = []; for (const s of ss) { while (hp.length >= 2) { const [a, b] = hp.slice(-2); const cross = (b.c - a.c) * (s.q - a.q) - (b.q - a.q) * (s.c - a.c); if (cross >= 0) hp.pop(); else break; } if (!hp.length || s.q > hp[hp.length - 1].q) hp.push(s); }
    const hl = []; for (let i = 0; i + 1 < hp.length; i++) for (let t = 0; t <= 20; t++) { const c = hp[i].c + ((hp[i + 1].c - hp[i].c) * t) / 20; hl.push([X(c), Y(hp[i].q + ((hp[i + 1].q - hp[i].q) * t) / 20)]); }
    if (hl.length) out.push(`<polyline fill="none" stroke="#888" stroke-dasharray="4,3" points="${hl.map((p) => p.join(',')).join(' ')}"/>`);
    const cp = r.curve.slice().sort((a, b) => a.c - b.c);
    out.push(`<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="${cp.map((p) => `${X(p.c)},${Y(p.q)}`).join(' ')}"/>`);
    for (const s of ss) out.push(`<circle cx="${X(s.c)}" cy="${Y(s.q)}" r="3" fill="#444"/><text x="${X(s.c) + 4}" y="${Y(s.q) - 3}" font-size="8" fill="#444">${s.m.slice(0, 16)}</text>`);
    for (const [k, p] of Object.entries(r.named)) out.push(`<rect x="${X(p.c) - 3}" y="${Y(p.q) - 3}" width="6" height="6" fill="#1f5fbf"/><text x="${X(p.c) + 4}" y="${Y(p.q) + 10}" font-size="8" fill="#1f5fbf">${k}</text>`);
    out.push(`<text x="${X(r.oracle.c) - 10}" y="${Y(r.oracle.q) - 4}" font-size="8" fill="#090">oracle</text><circle cx="${X(r.oracle.c)}" cy="${Y(r.oracle.q)}" r="3" fill="#090"/>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
const L = [];
L.push('<!-- GENERATED by tools/route/eval.mjs; do not edit -->');
L.push(`Held out by task: for each row the router's per-prompt model was trained on every other task (at most ${CAP} prompts per set/task), never on this one. Costs: RouterBench's real per-prompt cost; RouteLLM at list prices (GPT-4-1106 $10/$30, Mixtral $0.6/$0.6 per Mtok). Quality: share of correct answers (MT-Bench: judge score / 10).`);
L.push('');
L.push('| held-out task | prompts | models | strongest (quality, $/1k) | auto:cheap | auto:balanced | auto:best | oracle | every auto point on/above the single-model frontier at its cost (min margin) | at/above random two-model splits (share of 40 budgets; min margin) | best quality at ≤20 % of strongest cost | at ≤50 % | within-task AUC: strong-right & cheapest-wrong / most-models-wrong |');
L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const f = (p) => `${p.q.toFixed(3)} @ $${p.c.toFixed(3)}`;
  L.push(`| ${r.task} | ${r.n} | ${r.models.length} | ${r.strongest.m} (${r.strongest.q.toFixed(3)}, $${r.strongest.c.toFixed(3)}) | ${f(r.named.cheap)} | ${f(r.named.balanced)} | ${f(r.named.best)} | ${f(r.oracle)} | ${yes(r.stepMargin >= -TOL)} (${r.stepMargin.toFixed(3)}) | ${pct(r.hullAbove)} (${r.minHull.toFixed(3)}) | ${pct(r.at20)} ${r.at20 >= 0.95 ? '✓' : '✗'} | ${pct(r.at50)} ${r.at50 >= 1 ? '✓' : '✗'} | ${Number.isNaN(r.aucGap) ? '-' : r.aucGap.toFixed(3)} / ${Number.isNaN(r.aucHard) ? '-' : r.aucHard.toFixed(3)} |`);
}
L.push('');
L.push('Single models per held-out task (quality, USD per 1k prompts):');
L.push('');
for (const r of results.filter((x) => x.task !== 'routerbench overall')) L.push(`* ${r.task}: ${r.single.slice().sort((a, b) => a.c - b.c).map((s) => `${s.m} ${s.q.toFixed(3)} $${s.c.toFixed(2)}`).join('; ')}`);
L.push('');
L.push('Cost-target mode (`auto:$X`, the controller with its default gain 0.05 and window 64, fed with each choice\'s expected cost, then its bill; prompts in a fixed-seed shuffled order): target → achieved USD per 1k prompts (real cost), quality; targets are 5 / 10 / 20 / 50 % of the strongest model\'s cost:');
L.push('');
L.push('| held-out task | 5 % | 10 % | 20 % | 50 % |');
L.push('|---|---|---|---|---|');
for (const r of results) L.push(`| ${r.task} | ${r.targets.map((t) => `$${t.target.toFixed(3)} → $${t.c.toFixed(3)}, ${t.q.toFixed(3)}`).join(' | ')} |`);
L.push('');
L.push('Held-out calibration of P(good) over every (prompt, model): ECE, Brier, reliability (mean predicted → observed, count per bin) and each model\'s mean predicted / real quality:');
L.push('');
L.push('| held-out task | ECE | Brier | reliability | mean predicted / real per model |');
L.push('|---|---|---|---|---|');
for (const r of results) L.push(`| ${r.task} | ${r.cal.ece.toFixed(3)} | ${r.cal.brier.toFixed(3)} | ${r.cal.bins.filter((b) => b.n).map((b) => `${(b.p / b.n).toFixed(2)}→${(b.y / b.n).toFixed(2)} (${b.n})`).join(', ')} | ${r.cal.per.map((x) => `${x.m} ${x.p.toFixed(2)}/${x.y.toFixed(2)}`).join('; ')} |`);
L.push('');
const md = L.join('\n') + '\n';
console.log('\n' + md);
if (write) {
  fs.writeFileSync(path.join(REPO, 'docs', 'route_eval.md'), md);
  fs.writeFileSync(path.join(REPO, 'docs', 'route_eval.svg'), svg(results));
  console.log('wrote docs/route_eval.md, docs/route_eval.svg');
}
