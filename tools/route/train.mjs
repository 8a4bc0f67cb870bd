#!/usr/bin/env node
// train.mjs — trains the auto router's logistic regression on the TRAIN part of the
// RouteLLM evaluation set (fixed-seed split, contaminated prompts dropped) using the
// C feature extractor (route_features) and writes src/route_auto_weights.h.
// Usage: node tools/route/train.mjs [--features PATH] [--data DIR] [--out FILE]
// Then rebuild (the weights are compiled in) and run tools/route/eval.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { BENCHES, REPO, SPLIT_SEED, TEST_FRACTION, extract, featureNames, findDataDir, findFeatureTool,
  label, loadAll, metrics, predict, trainLR } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (k) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
const dataDir = findDataDir(opt('--data'));
const tool = findFeatureTool(opt('--features'));
const out = opt('--out') || path.join(REPO, 'src', 'route_auto_weights.h');

const { items, dropped } = loadAll(dataDir);
const train = items.filter((it) => !it.test);
console.log(`loaded ${items.length} prompts (dropped contaminated: ${JSON.stringify(dropped)}); training on ${train.length}`);
const feats = extract(tool, train);
const names = featureNames(tool);
const X = feats.map((f) => f.x);
const y = train.map(label);
const prior = feats.map((f) => f.prior); // fixed offset (route_auto.c gr_route_auto_prior)

// Benchmark balance: each benchmark's total weight grows with sqrt(n), so MMLU's 10k
// prompts do not drown GSM8K and MT-Bench (and no single benchmark is over-fitted).
const count = {};
for (const it of train) count[it.bench] = (count[it.bench] || 0) + 1;
const w = train.map((it) => 1 / Math.sqrt(count[it.bench]));

// lambda by 5-fold cross-validation inside the training part (mean APGR over benchmarks)
const K = 5;
const fold = train.map((_, i) => i % K);
let best = { lambda: 0, apgr: -1 };
for (const lambda of [1e-3, 1e-2, 3e-2, 1e-1]) {
  const sc = new Float64Array(train.length);
  for (let k = 0; k < K; k++) {
    const tr = [], te = [];
    fold.forEach((f, i) => (f === k ? te : tr).push(i));
    const wt = trainLR(tr.map((i) => X[i]), tr.map((i) => y[i]), tr.map((i) => w[i]), { lambda, epochs: 250, offset: tr.map((i) => prior[i]) });
    for (const i of te) sc[i] = predict(wt, X[i], prior[i]);
  }
  const per = BENCHES.map((b) => {
    const ids = train.map((it, i) => (it.bench === b ? i : -1)).filter((i) => i >= 0);
    return metrics(ids.map((i) => train[i]), ids.map((i) => sc[i])).apgr;
  });
  // weight benchmarks by sqrt(n): MT-Bench's few training prompts are too noisy to steer lambda alone
  const wb = BENCHES.map((b) => Math.sqrt(count[b] || 0));
  const mean = per.reduce((a, v, i) => a + v * wb[i], 0) / wb.reduce((a, b) => a + b, 0);
  console.log(`cv lambda=${lambda}: APGR ${BENCHES.map((b, i) => `${b}=${per[i].toFixed(3)}`).join(' ')} mean=${mean.toFixed(3)}`);
  if (mean > best.apgr) best = { lambda, apgr: mean };
}

const wts = trainLR(X, y, w, { lambda: best.lambda, epochs: 400, offset: prior });

// Robustness for traffic unlike the benchmarks:
// (1) no feature may move the logit by more than MAX_CONTRIB at its 99th percentile
//     value (rare features such as code fences otherwise get huge weights);
// (2) features the data cannot teach (no variance: tools, images, JSON mode, system
//     prompt, conversation depth, prior assistant turns) get small documented priors.
const MAX_CONTRIB = 1.0;
const PRIORS = { depth: 0.3, has_system: 0.0, has_tools: 0.4, has_images: 0.3, json_mode: 0.15, prior_assistant: 0.1 };
const notes = [];
for (let j = 1; j < wts.length; j++) {
  const col = X.map((x) => Math.abs(x[j])).sort((a, b) => a - b);
  const p99 = col[Math.floor(0.99 * (col.length - 1))] || col[col.length - 1];
  const mx = col[col.length - 1];
  if (mx === 0 && names[j] in PRIORS) { wts[j] = PRIORS[names[j]]; notes.push(`${names[j]}=prior`); continue; }
  const ref = p99 > 0 ? p99 : mx;
  if (ref > 0 && Math.abs(wts[j]) * ref > MAX_CONTRIB) {
    const nw = (Math.sign(wts[j]) * MAX_CONTRIB) / ref;
    // keep the bias consistent for the mean input
    notes.push(`${names[j]} clamped ${wts[j].toFixed(2)}->${nw.toFixed(2)}`);
    wts[j] = nw;
  }
}
console.log(notes.join('; '));
// Difficulty quantiles over the training prompts, benchmark-balanced (each benchmark
// contributes equally), so the quality knob means the same strong share on a mix.
const pairs = train.map((it, i) => ({ s: predict(wts, X[i], prior[i]), wt: 1 / count[it.bench] }));
pairs.sort((a, b) => a.s - b.s);
const totalW = pairs.reduce((a, p) => a + p.wt, 0);
const Q = [];
let cum = 0, j = 0;
for (let q = 0; q <= 100; q++) {
  const target = (q / 100) * totalW;
  while (j < pairs.length - 1 && cum + pairs[j].wt < target) { cum += pairs[j].wt; j++; }
  Q.push(pairs[j].s);
}
Q[0] = pairs[0].s; Q[100] = pairs[pairs.length - 1].s;
for (let q = 1; q <= 100; q++) if (Q[q] < Q[q - 1]) Q[q] = Q[q - 1];

const f6 = (v) => `${v.toPrecision(7)}f`;
const hdr = `/* route_auto_weights.h — GENERATED by tools/route/train.mjs; do not edit.
 * Logistic regression of P(strong model needed) on the route_auto.c features.
 * Trained on the train split (seed "${SPLIT_SEED}", test fractions ${JSON.stringify(TEST_FRACTION)})
 * of the RouteLLM evaluation set (lm-sys/RouteLLM, Apache-2.0): GSM8K, MMLU, MT-Bench
 * outcomes of gpt-4-1106-preview vs Mixtral-8x7B-Instruct; contaminated prompts dropped.
 * ${train.length} training prompts (${Object.entries(count).map(([k, v]) => `${k} ${v}`).join(', ')}); L2 lambda ${best.lambda}
 * (5-fold CV mean APGR ${best.apgr.toFixed(3)}). Per-feature logit contribution capped at
 * ${MAX_CONTRIB} (99th percentile input); untrainable features carry priors: ${JSON.stringify(PRIORS)}. */
#ifndef GR_ROUTE_AUTO_WEIGHTS_H
#define GR_ROUTE_AUTO_WEIGHTS_H

#define GR_AUTO_WEIGHTS_NFEAT ${wts.length}

static const float gr_auto_weights[GR_AUTO_WEIGHTS_NFEAT] = {
${Array.from(wts).map((v, i) => `    ${f6(v)}, /* ${names[i] || i} */`).join('\n')}
};

/* Score quantiles 0..100 % over the training prompts (benchmark-balanced). */
static const float gr_auto_quantiles[101] = {
${Q.map((v) => f6(v)).reduce((acc, s, i) => acc + (i % 6 === 0 ? '\n    ' : ' ') + s + ',', '').trimStart().replace(/^/, '    ')}
};

#endif
`;
fs.writeFileSync(out, hdr);
console.log(`wrote ${out} (lambda ${best.lambda})`);
