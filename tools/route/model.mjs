// model.mjs — the auto router's per-prompt model in JS, mirroring route_auto.c:
// features come from the C extractor (route_features, train/serve parity); this file
// trains the weights (skill mixture, difficulty, answer length), resolves model
// abilities from tools/route/abilities.json exactly as route_auto_config.c does from
// the generated table, predicts P(good | model, prompt) and makes the expected-value
// choice. Node 20, no dependencies.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { HERE } from './lib.mjs';
import { requestOf, skillOf } from './data.mjs';

export const NSKILL = 6, NOUT = 8, NHASH = 1024, OUT_DIFF = 6, OUT_LOGLEN = 7;
export const SKILLS = ['knowledge', 'reasoning', 'math', 'code', 'instruction', 'language'];
const sig = (z) => 1 / (1 + Math.exp(-Math.max(-30, Math.min(30, z))));
const logit = (a) => { const x = Math.min(0.99, Math.max(0.01, a)); return Math.log(x / (1 - x)); };

// ---- features (C extractor) ----
export function extract(tool, items) {
  const input = items.map((it) => JSON.stringify(requestOf(it))).join('\n') + '\n';
  const r = spawnSync(tool, [], { input, maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`route_features failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.length);
  if (lines.length !== items.length) throw new Error(`route_features: ${lines.length} lines for ${items.length} items`);
  return lines.map((l) => {
    if (l === 'ERR') throw new Error('route_features could not read a request');
    const p = l.split(',');
    const nd = p.length - 12;
    const hs = p[p.length - 1] ? p[p.length - 1].split(' ') : [];
    return {
      task: p[0], prior: +p[1], qchars: +p[2],
      c: { skill: p.slice(3, 9).map(Number), difficulty: +p[9], out: +p[10] }, // compiled-in prediction
      x: Float64Array.from(p.slice(11, 11 + nd), Number),
      hi: Uint16Array.from(hs.map((s) => +s.split(':')[0])), hv: Float64Array.from(hs.map((s) => +s.split(':')[1])),
    };
  });
}

// ---- ability table ----
export function loadAbilityTable(file = path.join(HERE, 'abilities.json')) {
  const src = JSON.parse(fs.readFileSync(file, 'utf8'));
  const rows = src.models.map((m) => ({ ids: m.ids, a: SKILLS.map((s) => (m[s] === undefined ? null : m[s])), prices: m.prices || null, source: m.source }));
  // skill offsets in logit space over models that have the skill and knowledge
  const off = SKILLS.map(() => ({ s: 0, n: 0 }));
  for (const r of rows) {
    const known = r.a.map((v, k) => (v === null ? null : logit(v))).filter((v) => v !== null);
    if (!known.length) continue;
    const mean = known.reduce((x, y) => x + y, 0) / known.length;
    r.a.forEach((v, k) => { if (v !== null) { off[k].s += logit(v) - mean; off[k].n++; } });
  }
  const offset = off.map((o) => (o.n ? o.s / o.n : 0));
  for (const r of rows) {
    const kn = r.a.map((v, k) => (v === null ? null : logit(v) - offset[k])).filter((v) => v !== null);
    const base = kn.reduce((x, y) => x + y, 0) / kn.length;
    r.filled = r.a.map((v) => v === null);
    r.a = r.a.map((v, k) => (v === null ? sig(base + offset[k]) : v));
  }
  // price placement: mean ability logit = p0 + p1 * log10(output USD/Mtok), least squares
  const pts = rows.filter((r) => r.prices).map((r) => [Math.log10(r.prices[1]), r.a.reduce((x, v) => x + logit(v), 0) / NSKILL]);
  const mx = pts.reduce((s, p) => s + p[0], 0) / pts.length, my = pts.reduce((s, p) => s + p[1], 0) / pts.length;
  let sxy = 0, sxx = 0;
  for (const [x, y] of pts) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2; }
  const p1 = sxx ? sxy / sxx : 0, p0 = my - p1 * mx;
  return { rows, offset, price: [p0, p1], retrieved: src._retrieved };
}

// Abilities of a model: table match on the normalised id, else the tier (quality/100), else price.
export function abilityOf(table, id, { tier = 0, outPrice = 0 } = {}) {
  const k = id.toLowerCase().replace(/^.*\//, '');
  for (let i = 0; i < table.rows.length; i++) {
    const r = table.rows[i];
    if (r.ids.includes(k)) return { a: r.a, how: 'table', row: i, bias: (table.bias && table.bias[i]) || 0 };
  }
  if (tier > 0) return { a: Array(NSKILL).fill(tier / 100), how: 'tier', bias: 0 };
  const z = table.price[0] + table.price[1] * Math.log10(Math.max(outPrice, 0.01));
  return { a: Array(NSKILL).fill(sig(z)), how: 'price', bias: 0 };
}

// The table the router uses after training: each row's published abilities moved by the learned
// per-skill corrections (folded into the ability so a config override of one skill replaces the
// learned value too), clamped to the predictor's 0.01..0.99, and the general per-row bias.
export function learnedTable(table, W) {
  const rows = table.rows.map((r, i) => {
    const sb = W.skillBias ? W.skillBias[i] : null;
    const a = r.a.map((v, k) => (sb ? Math.min(0.99, Math.max(0.01, sig(logit(v) + sb[k] / W.alpha))) : v));
    return { ...r, published: r.a, a: a.map((v) => Math.fround(v)) };
  });
  return { ...table, rows, bias: W.bias };
}

// ---- prediction (same arithmetic as gr_route_auto_predict / _quality) ----
// Answer-length prior per skill, tokens (route_auto.c len_prior).
export const LEN_PRIOR = [120, 150, 250, 350, 400, 150];
export const lenPrior = (skill) => skill.reduce((a, v, k) => a + v * Math.log1p(LEN_PRIOR[k]), 0);
export function predictOne(W, f) {
  const z = new Float64Array(NOUT);
  for (let i = 0; i < f.x.length; i++) if (f.x[i] !== 0) for (let o = 0; o < NOUT; o++) z[o] += W.dense[i * NOUT + o] * f.x[i];
  for (let i = 0; i < f.hi.length; i++) { const b = f.hi[i] * NOUT; for (let o = 0; o < NOUT; o++) z[o] += W.hash[b + o] * f.hv[i]; }
  let mx = -Infinity; for (let k = 0; k < NSKILL; k++) mx = Math.max(mx, z[k]);
  const s = []; let sum = 0;
  for (let k = 0; k < NSKILL; k++) { s.push(Math.exp(z[k] - mx)); sum += s[k]; }
  const skill = s.map((v) => v / sum);
  const ll = z[OUT_LOGLEN] + lenPrior(skill);
  return { skill, difficulty: z[OUT_DIFF] + f.prior, out: Math.expm1(Math.min(9, Math.max(0, ll))) };
}
export function quality(W, p, a, bias = 0) {
  let z = 0; for (let k = 0; k < NSKILL; k++) z += p.skill[k] * logit(a[k]);
  return sig((p.alpha ?? W.alpha) * z + bias - p.difficulty);
}
export const knobToUsd = (k) => (k <= 0 ? 0 : k >= 1 ? Infinity : 10 ** (4 * k - 3.5));
export function choose(q, cost, v) {
  let best = -1, bu = 0;
  for (let i = 0; i < q.length; i++) {
    const u = v === Infinity ? q[i] : v * q[i] - cost[i];
    if (best < 0 || u > bu + 1e-12 || (Math.abs(u - bu) <= 1e-12 && cost[i] < cost[best])) { best = i; bu = u; }
  }
  return best;
}

// ---- training ----
// Task balance: each task's total weight grows with sqrt(n prompts).
// Our small-talk slice (assumed outcomes) counts as SMALLTALK_WEIGHT of a task.
function taskWeights(items, smalltalkWeight = 1) {
  const n = {}; for (const it of items) n[it.task] = (n[it.task] || 0) + 1;
  return items.map((it) => (it.assumed ? smalltalkWeight : 1) / Math.sqrt(n[it.task]));
}

// Full-batch Adam over dense + hashed weights of the outputs in `outs`; grad(f, i, z) returns
// dLoss/dz for those outputs (length outs.length) and may also update extra params.
function fit(F, outs, gradFn, { iters, lr, l2d, l2h, extra = null }) {
  const nd = F[0].x.length;
  const P = new Float64Array(nd * outs.length + NHASH * outs.length + (extra ? extra.length : 0));
  if (extra) extra.forEach((v, j) => (P[P.length - extra.length + j] = v));
  const m1 = new Float64Array(P.length), m2 = new Float64Array(P.length);
  const no = outs.length, hb = nd * no, eb = hb + NHASH * no;
  for (let t = 1; t <= iters; t++) {
    const g = new Float64Array(P.length);
    let W = 0;
    for (let i = 0; i < F.length; i++) {
      const f = F[i];
      const z = new Float64Array(no);
      for (let j = 0; j < nd; j++) if (f.x[j] !== 0) for (let o = 0; o < no; o++) z[o] += P[j * no + o] * f.x[j];
      for (let j = 0; j < f.hi.length; j++) { const b = hb + f.hi[j] * no; for (let o = 0; o < no; o++) z[o] += P[b + o] * f.hv[j]; }
      const r = gradFn(i, z, P.subarray(eb), g.subarray(eb));
      if (!r) continue;
      W += r.w;
      for (let j = 0; j < nd; j++) if (f.x[j] !== 0) for (let o = 0; o < no; o++) g[j * no + o] += r.d[o] * f.x[j];
      for (let j = 0; j < f.hi.length; j++) { const b = hb + f.hi[j] * no; for (let o = 0; o < no; o++) g[b + o] += r.d[o] * f.hv[j]; }
    }
    for (let j = 0; j < P.length; j++) {
      let gj = g[j] / W + (j < hb ? l2d : j < eb ? l2h : 0) * P[j];
      m1[j] = 0.9 * m1[j] + 0.1 * gj; m2[j] = 0.999 * m2[j] + 0.001 * gj * gj;
      P[j] -= (lr * m1[j] / (1 - 0.9 ** t)) / (Math.sqrt(m2[j] / (1 - 0.999 ** t)) + 1e-8);
    }
  }
  return { P, nd, no };
}

// Sets whose right/wrong outcomes move the per-skill abilities.
export const SKILL_SETS = ['routerbench', 'routellm', 'routerdc'];

// Trains on items (with features F[i]) whose models have table abilities.
export function train(items, F, table, { iters = 150, log = () => {}, opts = {} } = {}) {
  const tw = taskWeights(items, opts.smalltalkWeight ?? 1);
  const nd = F[0].x.length;
  const W = { dense: new Float64Array(nd * NOUT), hash: new Float64Array(NHASH * NOUT), alpha: 1 };
  // 1. skill mixture: softmax regression on the task's skill label
  const lab = items.map(skillOf);
  const s = fit(F, [0, 1, 2, 3, 4, 5], (i, z) => {
    let mx = -Infinity; for (const v of z) mx = Math.max(mx, v);
    const e = Array.from(z, (v) => Math.exp(v - mx)); const sum = e.reduce((a, b) => a + b, 0);
    return { w: tw[i], d: e.map((v, k) => tw[i] * (v / sum - (k === lab[i] ? 1 : 0))) };
  }, { iters, lr: 0.05, l2d: 1e-3, l2h: 1e-4 });
  for (let j = 0; j < nd; j++) for (let k = 0; k < NSKILL; k++) W.dense[j * NOUT + k] = s.P[j * 6 + k];
  for (let b = 0; b < NHASH; b++) for (let k = 0; k < NSKILL; k++) W.hash[b * NOUT + k] = s.P[nd * 6 + b * 6 + k];
  log(`skills: trained on ${items.length} prompts`);
  // 2. difficulty and alpha: logistic loss over (prompt, model) outcomes with known abilities
  const pairs = items.map((it, i) => {
    const p = predictOne(W, F[i]);
    const ms = Object.entries(it.outcomes).map(([m, y]) => [abilityOf(table, m), y]).filter(([a]) => a.how === 'table');
    // per-skill corrections learn only from right/wrong outcomes (pass rates, like the published
    // figures), not from judge scores (MT-Bench /10), whose scale is another one
    // (opts.skillSets: only from these sets; measured with RouterBench + RouteLLM only — RouterDC's
    // own 0-shot harness scores models 1-35 points lower — and not used: MBPP held out fell to
    // -0.078 below the frontier, from -0.039 with all three; docs/ROUTING.md)
    const binary = Object.values(it.outcomes).every((v) => v === 0 || v === 1) && (opts.skillSets || SKILL_SETS).includes(it.set);
    return ms.map(([a, y]) => ({ L: a.a.reduce((acc, v, k) => acc + p.skill[k] * logit(v), 0), y, row: a.row, calib: !it.assumed, perSkill: binary }));
  });
  // extra params: alpha; one calibration bias per table row (general, shrunk to 0 by BIAS_L2; off
  // unless opts.generalBias: one bias for every skill carried a model's residual on one task to
  // every other — Mixtral's on the RouteLLM tasks lifted its code on MBPP, held out −0.043 with it,
  // −0.028 without; docs/ROUTING.md);
  // one per (row, skill), the learned per-skill ability correction, trained only on the outcomes of
  // tasks labelled with that skill (a model's measured success on that skill's training tasks),
  // shrunk to the published figure by SKILL_L2; at serving time it enters through the prompt's
  // skill mixture (folded into the ability, learnedTable).
  const R = table.rows.length, BIAS_L2 = opts.biasL2 ?? 0.05, useGeneral = opts.generalBias === true, SKILL_L2 = opts.skillL2 ?? 0.05;
  const useSkill = opts.skillBias !== false;
  const lab2 = items.map(skillOf);
  // Gauge: a shift shared by every model of a skill is the same as a shift of the difficulty, and
  // would move only the models that have outcomes for that skill away from the ones that have none
  // (placed by their published figures). CENTER pulls the mean correction over the rows with
  // outcomes (per skill, and of the general bias) to 0, so the difficulty takes the shared part.
  const CENTER = opts.center ?? 1;
  // Per (data set, skill) offsets: each set measures with its own harness (RouterDC's 0-shot scores
  // are 1-35 points below the published figures of the same models), so a level shared by every
  // model of one set is the set's, not the models'. With it the per-model corrections are learned
  // from the gaps between models measured alike. Training only: 0 at serving time. Measured and
  // NOT used by default (opts.setOffsets: true): held out, MBPP fell to -0.082 below the frontier
  // and Mistral-7B's predicted ARC quality to 0.13 (real 0.67); docs/ROUTING.md.
  const SETS = [...new Set(items.map((it) => it.set))], setOf = items.map((it) => SETS.indexOf(it.set));
  const useSet = opts.setOffsets === true, SO = 1 + R + R * NSKILL;
  const hasSkill = Array.from({ length: R }, () => new Array(NSKILL).fill(false)), hasAny = new Array(R).fill(false);
  pairs.forEach((ps, i) => { if (!items[i].assumed) for (const { row, perSkill } of ps) { if (perSkill) hasSkill[row][lab2[i]] = true; hasAny[row] = true; } });
  const nSkill = Array.from({ length: NSKILL }, (_, k) => hasSkill.filter((h) => h[k]).length), nAny = hasAny.filter(Boolean).length;
  // opts.centerBy 'set': the per-skill corrections are centred over the models one data set measured
  // (each set's own harness level goes to the difficulty), not over every model with outcomes of the
  // skill — which lets a set that scores every model low (RouterDC's 0-shot harness) push the
  // models of another set (RouteLLM's GPT-4 and Mixtral) up.
  const bySet = (opts.centerBy ?? 'set') === 'set';
  // The scale of the published ability logits is fixed at 1 (opts.alpha: another number, or 'learn'
  // to fit it as before): a learned scale was fitted to the training tasks' residuals (0.26 without
  // ARC), which flattened the published gaps between models so that an unseen task ranked them by
  // another task's corrections; at 1 the published figures keep their spread.
  const learnAlpha = opts.alpha === 'learn', ALPHA = learnAlpha ? 1 : opts.alpha ?? 1;
  const hasSS = SETS.map(() => Array.from({ length: R }, () => new Array(NSKILL).fill(false)));
  pairs.forEach((ps, i) => { if (!items[i].assumed) for (const { row, perSkill } of ps) if (perSkill) hasSS[setOf[i]][row][lab2[i]] = true; });
  const nSS = hasSS.map((hs) => Array.from({ length: NSKILL }, (_, k) => hs.filter((h) => h[k]).length));
  const d = fit(F, [OUT_DIFF], (i, z, ex, gex) => {
    const ps = pairs[i]; if (!ps.length) return null;
    const w = tw[i] / ps.length, k = lab2[i];
    let gd = 0, mk = 0, mg = 0;
    if (CENTER && !items[i].assumed) for (let r = 0; r < R; r++) {
      if (bySet ? hasSS[setOf[i]][r][k] : hasSkill[r][k]) mk += ex[1 + R + r * NSKILL + k] / (bySet ? nSS[setOf[i]][k] : nSkill[k]);
      if (hasAny[r]) mg += ex[1 + r] / nAny;
    }
    for (const { L, y, row, calib, perSkill } of ps) {
      const sb = 1 + R + row * NSKILL;
      const so = SO + setOf[i] * NSKILL + k;
      const zb = ex[0] * L + ex[1 + row] + (useSkill ? ex[sb + k] : 0) + (useSet ? ex[so] : 0) - z[0] - F[i].prior;
      const e = sig(zb) - y;
      gd -= e * w;
      if (!calib) continue; // assumed outcomes train the difficulty only
      if (learnAlpha) gex[0] += e * w * L;
      if (useGeneral) gex[1 + row] += e * w + BIAS_L2 * ex[1 + row] * w + CENTER * mg * w;
      if (useSet) gex[so] += e * w + 1e-3 * ex[so] * w;
      if (useSkill && perSkill) gex[sb + k] += e * w + SKILL_L2 * ex[sb + k] * w + CENTER * mk * w;
    }
    return { w: tw[i], d: [gd] };
  }, { iters, lr: 0.05, l2d: 1e-3, l2h: 3e-4, extra: [learnAlpha ? 1 : ALPHA, ...new Array(R + R * NSKILL + NSKILL * SETS.length).fill(0)] });
  for (let j = 0; j < nd; j++) W.dense[j * NOUT + OUT_DIFF] = d.P[j];
  for (let b = 0; b < NHASH; b++) W.hash[b * NOUT + OUT_DIFF] = d.P[nd + b];
  const ex = d.P.subarray(d.P.length - 1 - R - R * NSKILL - NSKILL * SETS.length);
  W.alpha = ex[0];
  W.bias = Array.from(ex.subarray(1, 1 + R), (v) => Math.fround(v));
  W.skillBias = Array.from({ length: R }, (_, r) => Array.from(ex.subarray(1 + R + r * NSKILL, 1 + R + (r + 1) * NSKILL)));
  W.setOffsets = Object.fromEntries(SETS.map((st, j) => [st, Array.from(ex.subarray(SO + j * NSKILL, SO + (j + 1) * NSKILL), (v) => +v.toFixed(3))]));
  log(`difficulty: alpha ${W.alpha.toFixed(3)}${useSet ? `; per-set offsets (training only) ${JSON.stringify(W.setOffsets)}` : ""}`);
  // 3. answer length: squared loss on log(1 + mean output tokens), where responses exist
  const len = items.map((it) => {
    if (!it.outTokens) return null;
    const v = Object.values(it.outTokens); return Math.log1p(v.reduce((a, b) => a + b, 0) / v.length);
  });
  const lw = taskWeights(items.map((it, i) => (len[i] === null ? { task: '-' } : it)));
  if (len.some((v) => v !== null)) {
    const off = items.map((it, i) => (len[i] === null ? 0 : lenPrior(predictOne(W, F[i]).skill)));
    const l = fit(F, [OUT_LOGLEN], (i, z) => (len[i] === null ? null : { w: lw[i], d: [lw[i] * (z[0] + off[i] - len[i])] }),
      { iters, lr: 0.05, l2d: 1e-3, l2h: 1e-3 });
    for (let j = 0; j < nd; j++) W.dense[j * NOUT + OUT_LOGLEN] = l.P[j];
    for (let b = 0; b < NHASH; b++) W.hash[b * NOUT + OUT_LOGLEN] = l.P[nd + b];
  }
  return quantize(W);
}

// Hashed weights are stored as int8 with one scale per output (as in the C header).
export function quantize(W) {
  W.scale = new Float64Array(NOUT);
  W.q = new Int8Array(NHASH * NOUT);
  for (let o = 0; o < NOUT; o++) {
    let mx = 0; for (let b = 0; b < NHASH; b++) mx = Math.max(mx, Math.abs(W.hash[b * NOUT + o]));
    W.scale[o] = mx > 0 ? Math.fround(mx / 127) : 0;
    for (let b = 0; b < NHASH; b++) {
      const q = W.scale[o] ? Math.round(W.hash[b * NOUT + o] / W.scale[o]) : 0;
      W.q[b * NOUT + o] = q; W.hash[b * NOUT + o] = q * W.scale[o];
    }
  }
  for (let i = 0; i < W.dense.length; i++) W.dense[i] = Math.fround(W.dense[i]);
  W.alpha = Math.fround(W.alpha);
  return W;
}
