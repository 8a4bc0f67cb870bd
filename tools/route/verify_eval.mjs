#!/usr/bin/env node
// verify_eval.mjs — what the `auto:verify` cascade would score and cost on
// RouterBench (routing-data/routerbench-train: 11 models' real answers,
// 0/1 outcomes and costs per prompt), computed offline from those answers:
// the two cheap models answer, their final answers are compared with the
// gateway's own accept rule (tools/route/verify_answers = src/verify_agree.c,
// serve/measure parity); agreement returns the cheaper model's answer at the
// cost of both calls, disagreement (or code, or an empty answer) escalates to
// the strong model and pays all three. Code answers are never accepted here:
// the data has no verifier verdicts, so every MBPP prompt escalates (an upper
// bound on the cost of the code path).
//
//   node tools/route/verify_eval.mjs [--answers BIN] [--data DIR] [--pairs] [--json] [--min-choice-rate X]
//
// --min-choice-rate X exits 1 when fewer than X of the ARC answers (all
// models) normalise to a choice letter: the accept rule's regression check
// (CTest route_verify_eval).
// Prints per task and overall: quality and USD per 1k prompts of the cascade
// and of the strong model, the accept rate and the accuracy of accepted
// answers, and whether the issue-18 target holds (>= 100 % of the strong
// model's quality at <= 50 % of its cost). --pairs also ranks every cheap pair.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { findDataDir, parseCSV, REPO } from './lib.mjs';
import { parsePyList, normId } from './data.mjs';

const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const STRONG = 'gpt-4-1106-preview';

function findAnswersTool(explicit) {
  const cands = [explicit, process.env.GR_VERIFY_ANSWERS, path.join(REPO, 'build', 'verify_answers'),
    path.join(REPO, 'build-asan', 'verify_answers')].filter(Boolean);
  for (const c of cands) if (fs.existsSync(c)) return c;
  throw new Error(`verify_answers not found (tried ${cands.join(', ')}); build it: cmake --build build --target verify_answers`);
}

// RouterBench prompts with every model's answer, outcome and cost.
function load(dir) {
  const items = [];
  let models = [];
  for (const [file, task] of [['arc_challenge_train.csv', 'arc'], ['mbpp_train.csv', 'mbpp']]) {
    const rows = parseCSV(fs.readFileSync(path.join(dir, 'routerbench-train', file), 'utf8'));
    const h = rows[0];
    models = h.filter((c) => c && !c.includes('|') && !['sample_id', 'prompt', 'eval_name', 'oracle_model_to_route_to'].includes(c));
    for (const r of rows.slice(1)) {
      if (r.length !== h.length) continue;
      const it = { task, answer: {}, outcome: {}, cost: {} };
      let complete = true;
      for (const m of models) {
        const o = r[h.indexOf(m)], c = r[h.indexOf(`${m}|total_cost`)];
        if (o === '' || c === '') complete = false;
        const turns = parsePyList(r[h.indexOf(`${m}|model_response`)]);
        it.answer[normId(m)] = turns[turns.length - 1] ?? '';
        it.outcome[normId(m)] = Number(o);
        it.cost[normId(m)] = Number(c);
      }
      if (complete) items.push(it); // a few rows lack some model's outcome: dropped for every model alike
    }
  }
  return { items, models: models.map(normId) };
}

// The gateway's normaliser over every answer: "kind\tanswer" per line.
function normalise(items, models, tool) {
  const lines = [];
  for (const it of items) for (const m of models) lines.push(JSON.stringify(it.answer[m]));
  const r = spawnSync(tool, [], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`verify_answers failed: ${r.stderr}`);
  const out = r.stdout.split('\n');
  let k = 0;
  for (const it of items) {
    it.norm = {};
    for (const m of models) {
      const [kind, ans = ''] = out[k++].split('\t');
      it.norm[m] = { kind, ans };
    }
  }
}

const agree = (x, y) => x.kind === y.kind && x.kind !== 'none' && x.kind !== 'code' && x.kind !== 'ERR' && x.ans === y.ans;

function cascade(items, a, b, strong) {
  let q = 0, cost = 0, accepted = 0, acceptedRight = 0;
  for (const it of items) {
    const cheap = it.cost[a] + it.cost[b];
    if (agree(it.norm[a], it.norm[b])) {
      accepted++;
      acceptedRight += it.outcome[a];
      q += it.outcome[a];
      cost += cheap;
    } else {
      q += it.outcome[strong];
      cost += cheap + it.cost[strong];
    }
  }
  const n = items.length;
  return { n, quality: q / n, usdPer1k: (cost / n) * 1000, acceptRate: accepted / n, acceptedAccuracy: accepted ? acceptedRight / accepted : null };
}

function single(items, m) {
  const n = items.length;
  return { quality: items.reduce((s, it) => s + it.outcome[m], 0) / n, usdPer1k: (items.reduce((s, it) => s + it.cost[m], 0) / n) * 1000 };
}

const dir = findDataDir(opt('--data'));
const { items, models } = load(dir);
normalise(items, models, findAnswersTool(opt('--answers')));

// the two cheapest models by realised cost over all prompts (the cascade's default choice)
const byCost = models.filter((m) => m !== STRONG).map((m) => [m, single(items, m).usdPer1k]).sort((x, y) => x[1] - y[1]);
const [A, B] = [byCost[0][0], byCost[1][0]];
const groups = { overall: items, arc: items.filter((i) => i.task === 'arc'), mbpp: items.filter((i) => i.task === 'mbpp') };
const report = { cheap: [A, B], strong: STRONG, tasks: {} };
for (const [name, its] of Object.entries(groups)) {
  const c = cascade(its, A, B, STRONG), s = single(its, STRONG);
  report.tasks[name] = {
    prompts: its.length, cascade: c, strong: s,
    quality_vs_strong: c.quality / s.quality, cost_vs_strong: c.usdPer1k / s.usdPer1k,
    target_met: c.quality >= s.quality && c.usdPer1k <= 0.5 * s.usdPer1k,
  };
}
// The ceiling of the code path: one cheap answer and a perfect, free check
// (its real outcome) — what no verifier beats; the data has no verdicts of a real one.
function perfectCheck(items, a, strong) {
  let q = 0, cost = 0;
  for (const it of items) {
    cost += it.cost[a];
    if (it.outcome[a] >= 1) q += it.outcome[a];
    else { q += it.outcome[strong]; cost += it.cost[strong]; }
  }
  return { quality: q / items.length, usdPer1k: (cost / items.length) * 1000 };
}
report.mbpp_perfect_check = Object.fromEntries(byCost.slice(0, 4).map(([m]) => [m, perfectCheck(groups.mbpp, m, STRONG)]));

if (args.includes('--pairs')) { // every cheap pair, best quality first (information, not the default rule)
  const pairs = [];
  for (let i = 0; i < models.length; i++) for (let j = i + 1; j < models.length; j++) {
    const [a, b] = [models[i], models[j]];
    if (a === STRONG || b === STRONG) continue;
    const [x, y] = single(items, a).usdPer1k <= single(items, b).usdPer1k ? [a, b] : [b, a];
    const arc = cascade(groups.arc, x, y, STRONG), all = cascade(items, x, y, STRONG);
    pairs.push({ pair: `${x}+${y}`, arc_quality: arc.quality, arc_usd_per_1k: arc.usdPer1k, arc_accept: arc.acceptRate, overall_quality: all.quality, overall_usd_per_1k: all.usdPer1k });
  }
  report.pairs = pairs.sort((p, q) => q.arc_quality - p.arc_quality);
  const half = 0.5 * single(groups.arc, STRONG).usdPer1k;
  report.best_pair_within_half_cost_arc = pairs.find((p) => p.arc_usd_per_1k <= half) || null;
}

const arcAnswers = groups.arc.flatMap((it) => models.map((m) => it.norm[m].kind));
report.arc_choice_rate = arcAnswers.filter((k) => k === 'choice').length / arcAnswers.length;
const minChoice = opt('--min-choice-rate');
if (minChoice !== undefined && !(report.arc_choice_rate >= Number(minChoice))) {
  console.error(`ARC answers read as a choice letter: ${report.arc_choice_rate.toFixed(4)} < ${minChoice}`);
  process.exitCode = 1;
}

if (args.includes('--json')) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const f = (x, d = 3) => (x === null ? '-' : x.toFixed(d));
  console.log(`auto:verify on RouterBench (${items.length} prompts): cheap ${A} + ${B}, escalation ${STRONG}; ARC answers read as a choice: ${f(report.arc_choice_rate, 4)}`);
  console.log('task     prompts  cascade q  $/1k    accept  acc(accepted)  strong q  $/1k    q/strong  cost/strong  target(>=100% q, <=50% cost)');
  for (const [name, t] of Object.entries(report.tasks))
    console.log(`${name.padEnd(8)} ${String(t.prompts).padStart(7)}  ${f(t.cascade.quality).padStart(9)}  ${f(t.cascade.usdPer1k, 2).padStart(6)}  ${f(t.cascade.acceptRate).padStart(6)}  ${f(t.cascade.acceptedAccuracy).padStart(13)}  ${f(t.strong.quality).padStart(8)}  ${f(t.strong.usdPer1k, 2).padStart(6)}  ${f(t.quality_vs_strong).padStart(8)}  ${f(t.cost_vs_strong).padStart(11)}  ${t.target_met ? 'met' : 'not met'}`);
  console.log(`\nMBPP ceiling, one cheap answer + a perfect free check (else ${STRONG}):`);
  for (const [m, v] of Object.entries(report.mbpp_perfect_check))
    console.log(`  ${m.padEnd(30)} ${f(v.quality)} at $${f(v.usdPer1k, 2)}/1k (${f(v.quality / report.tasks.mbpp.strong.quality)} of its quality, ${f(v.usdPer1k / report.tasks.mbpp.strong.usdPer1k)} of its cost)`);
  if (report.pairs) {
    console.log('\ncheap pairs (ARC), best quality first: pair  arc q  arc $/1k  accept  overall q  overall $/1k');
    for (const p of report.pairs.slice(0, 12))
      console.log(`${p.pair.padEnd(48)} ${f(p.arc_quality)}  ${f(p.arc_usd_per_1k, 2).padStart(6)}  ${f(p.arc_accept)}  ${f(p.overall_quality)}  ${f(p.overall_usd_per_1k, 2).padStart(6)}`);
    const b = report.best_pair_within_half_cost_arc;
    if (b) console.log(`best ARC pair within 50 % of ${STRONG}'s cost: ${b.pair}: ${f(b.arc_quality)} at $${f(b.arc_usd_per_1k, 2)}/1k (${f(b.arc_quality / report.tasks.arc.strong.quality)} of its quality)`);
  }
}
