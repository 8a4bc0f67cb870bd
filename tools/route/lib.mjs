// lib.mjs — shared by train.mjs and eval.mjs: loads the RouteLLM evaluation set
// (GSM8K, MMLU, MT-Bench; Apache-2.0) from ../shared/routing-data, drops the
// contaminated prompts, makes the fixed-seed train/test split, runs the C
// feature extractor (route_features) and computes the routing metrics.
// Node 20, no dependencies.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const SPLIT_SEED = 'gaterouter-route-v1';
export const TEST_FRACTION = { gsm8k: 0.3, mmlu: 0.3, mtbench: 0.5 };
export const BENCHES = ['gsm8k', 'mmlu', 'mtbench'];

export function findDataDir(explicit) {
  const cands = [explicit, process.env.GR_ROUTING_DATA,
    path.resolve(REPO, '..', 'shared', 'routing-data'), '/work/shared/routing-data'].filter(Boolean);
  for (const c of cands) if (fs.existsSync(path.join(c, 'routellm', 'gsm8k'))) return c;
  throw new Error(`routing data not found (tried ${cands.join(', ')}); set GR_ROUTING_DATA`);
}

// RFC 4180 CSV: quoted fields, "" escapes, newlines inside quotes.
export function parseCSV(text) {
  const rows = [];
  let row = [], field = '', i = 0, q = false;
  while (i < text.length) {
    const c = text[i];
    if (q) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        q = false; i++; continue;
      }
      field += c; i++; continue;
    }
    if (c === '"') { q = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\r') { i++; continue; }
    if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; continue; }
    field += c; i++;
  }
  if (field.length || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}

// Deterministic split: hash(seed, bench, prompt) -> [0,1).
export function isTest(bench, key) {
  return fnv1a(`${SPLIT_SEED}|${bench}|${key}`) / 4294967296 < TEST_FRACTION[bench];
}

function readJSONL(p) {
  return fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

const norm = (s) => s.replace(/\s+/g, ' ').trim();

function contaminated(dir, bench) {
  const p = path.join(dir, 'routellm', bench, 'contaminated_prompts.jsonl');
  if (!fs.existsSync(p)) return new Set();
  return new Set(readJSONL(p).map((o) => norm(o.eval_prompt)));
}

const WEAK = 'mistralai/Mixtral-8x7B-Instruct-v0.1';
const STRONG = 'gpt-4-1106-preview';

// Items: {bench, id, prompt, weak, strong, cat, test}
// weak/strong are the quality of each model's answer (0/1 correctness; MT-Bench: mean
// judge score of the two turns, 1..10).
export function loadAll(dataDir) {
  const items = [];
  const dropped = { gsm8k: 0, mmlu: 0, mtbench: 0 };
  {
    const bad = contaminated(dataDir, 'gsm8k');
    const rows = parseCSV(fs.readFileSync(path.join(dataDir, 'routellm/gsm8k/gsm8k_responses.csv'), 'utf8'));
    const h = rows[0];
    const ip = h.indexOf('prompt'), iw = h.indexOf(WEAK), is = h.indexOf(STRONG);
    rows.slice(1).forEach((r, k) => {
      if (r.length < 3) return;
      if (bad.has(norm(r[ip]))) { dropped.gsm8k++; return; }
      items.push({ bench: 'gsm8k', id: `gsm8k-${k}`, prompt: r[ip], weak: r[iw] === 'True' ? 1 : 0,
        strong: r[is] === 'True' ? 1 : 0, cat: 'math' });
    });
  }
  {
    const bad = contaminated(dataDir, 'mmlu');
    const rd = path.join(dataDir, 'routellm/mmlu/responses');
    for (const f of fs.readdirSync(rd).filter((x) => x.endsWith('.csv')).sort()) {
      const subject = f.replace(/^mmlu_/, '').replace(/\.csv$/, '');
      const rows = parseCSV(fs.readFileSync(path.join(rd, f), 'utf8'));
      const h = rows[0];
      const ip = h.indexOf('prompt'), iw = h.indexOf(WEAK), is = h.indexOf(STRONG);
      rows.slice(1).forEach((r, k) => {
        if (r.length < 3) return;
        if (bad.has(norm(r[ip]))) { dropped.mmlu++; return; }
        items.push({ bench: 'mmlu', id: `mmlu-${subject}-${k}`, prompt: r[ip], weak: r[iw] === 'True' ? 1 : 0,
          strong: r[is] === 'True' ? 1 : 0, cat: subject });
      });
    }
  }
  {
    const bad = contaminated(dataDir, 'mt_bench');
    const qs = readJSONL(path.join(dataDir, 'routellm/mt_bench/question.jsonl'));
    const js = readJSONL(path.join(dataDir, 'routellm/mt_bench/judgements.jsonl'));
    const score = {};
    for (const j of js) {
      const k = `${j.question_id}|${j.model}`;
      (score[k] = score[k] || []).push(j.score);
    }
    const mean = (a) => (a && a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
    for (const q of qs) {
      if (bad.has(norm(q.turns[0]))) { dropped.mtbench++; continue; }
      const w = mean(score[`${q.question_id}|${WEAK}`]), s = mean(score[`${q.question_id}|${STRONG}`]);
      if (Number.isNaN(w) || Number.isNaN(s)) continue;
      items.push({ bench: 'mtbench', id: `mtbench-${q.question_id}`, qid: q.question_id, prompt: q.turns[0],
        weak: w, strong: s, cat: q.category });
    }
  }
  for (const it of items) it.test = isTest(it.bench, it.id + '|' + it.prompt);
  return { items, dropped };
}

// MT-Bench answers of the two commercial routers: per question, mean judge score and
// (Unify only) whether GPT-4 was called.
export function loadCommercial(dataDir) {
  const d = path.join(dataDir, 'routellm/commercial-routers-mt-bench');
  const out = {};
  if (!fs.existsSync(d)) return out;
  const judg = readJSONL(path.join(d, 'gpt-4_single.jsonl'));
  for (const name of ['martian', 'unify']) {
    const per = {};
    for (const j of judg.filter((x) => x.model === name)) (per[j.question_id] = per[j.question_id] || []).push(j.score);
    const strongCalls = {};
    const ans = path.join(d, `${name}.jsonl`);
    if (fs.existsSync(ans))
      for (const a of readJSONL(ans)) strongCalls[a.question_id] = /gpt-4/i.test(a.model_id || '') ? 1 : (a.model_id === 'router' ? null : 0);
    out[name] = { score: Object.fromEntries(Object.entries(per).map(([k, v]) => [k, v.reduce((x, y) => x + y, 0) / v.length])), strongCalls };
  }
  return out;
}

export function requestFor(item) {
  return { messages: [{ role: 'user', content: item.prompt }] };
}

export function findFeatureTool(explicit) {
  const cands = [explicit, process.env.GR_ROUTE_FEATURES,
    path.join(REPO, 'build-route', 'route_features'), path.join(REPO, 'build', 'route_features')].filter(Boolean);
  for (const c of cands) if (fs.existsSync(c)) return c;
  throw new Error(`route_features binary not found (tried ${cands.join(', ')}); build it: cmake --build BUILD --target route_features, or pass --features PATH`);
}

// Runs the C extractor over the items; returns [{score, pct, task, x: Float64Array}].
export function extract(tool, items) {
  const input = items.map((it) => JSON.stringify(requestFor(it))).join('\n') + '\n';
  const r = spawnSync(tool, [], { input, maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`route_features failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.length);
  if (lines.length !== items.length) throw new Error(`route_features: ${lines.length} lines for ${items.length} items`);
  return lines.map((l) => {
    if (l === 'ERR') throw new Error('route_features could not read a request');
    const p = l.split(',');
    return { score: +p[0], pct: +p[1], task: p[2], prior: +p[3], x: Float64Array.from(p.slice(4), Number) };
  });
}

export function featureNames(tool) {
  const r = spawnSync(tool, ['--names'], { encoding: 'utf8' });
  return r.stdout.trim().split(',').slice(4);
}

// ---- metrics (RouteLLM definitions) ----
// Route the top-k items by score to the strong model. Ties in score are split evenly
// (the expected value of random tie-breaking), so a constant score equals random routing.
// Returns curve points {rate, quality} at n+1 strong-call counts.
export function curve(items, scores) {
  const n = items.length;
  const idx = [...Array(n).keys()].sort((a, b) => scores[b] - scores[a]);
  const base = items.reduce((s, it) => s + it.weak, 0);
  const pts = [{ rate: 0, quality: base / n }];
  let acc = base, k = 0;
  while (k < n) {
    let j = k;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[k]]) j++;
    const g = j - k + 1;
    let gain = 0;
    for (let t = k; t <= j; t++) gain += items[idx[t]].strong - items[idx[t]].weak;
    for (let t = 1; t <= g; t++) pts.push({ rate: (k + t) / n, quality: (acc + (gain * t) / g) / n });
    acc += gain;
    k = j + 1;
  }
  return pts;
}

export function metrics(items, scores) {
  const n = items.length;
  const qw = items.reduce((s, it) => s + it.weak, 0) / n;
  const qs = items.reduce((s, it) => s + it.strong, 0) / n;
  const pts = curve(items, scores);
  const pgr = (q) => (qs === qw ? 0 : (q - qw) / (qs - qw));
  // APGR: area under PGR(rate) over rate in [0,1] (trapezoid)
  let apgr = 0;
  for (let i = 1; i < pts.length; i++)
    apgr += ((pts[i].rate - pts[i - 1].rate) * (pgr(pts[i].quality) + pgr(pts[i - 1].quality))) / 2;
  const cpt = (target) => {
    for (let i = 0; i < pts.length; i++) {
      if (pgr(pts[i].quality) >= target - 1e-12) {
        if (i === 0) return 0;
        const a = pts[i - 1], b = pts[i];
        const pa = pgr(a.quality), pb = pgr(b.quality);
        return pb === pa ? b.rate : a.rate + ((target - pa) / (pb - pa)) * (b.rate - a.rate);
      }
    }
    return 1;
  };
  const at = (q) => { // minimum strong-call rate whose quality >= q
    for (let i = 0; i < pts.length; i++) if (pts[i].quality >= q - 1e-12) return pts[i].rate;
    return 1;
  };
  const r95 = at(0.95 * qs);
  return { n, qw, qs, apgr, cpt50: cpt(0.5), cpt80: cpt(0.8), r95, pts };
}

// Cost of a mix: strong share r, price ratio weak/strong c. Saved vs always-strong.
export function costSaved(r, ratio) { return 1 - (r + (1 - r) * ratio); }

// Logistic regression with L2, soft labels, sample weights; Adam on standardized features.
export function trainLR(X, y, w, { lambda = 1e-2, epochs = 400, lr = 0.05, offset = null } = {}) {
  const n = X.length, d = X[0].length;
  const mu = new Float64Array(d), sd = new Float64Array(d).fill(1);
  const W = w.reduce((a, b) => a + b, 0);
  for (let j = 1; j < d; j++) {
    let m = 0; for (let i = 0; i < n; i++) m += w[i] * X[i][j]; m /= W;
    let v = 0; for (let i = 0; i < n; i++) v += w[i] * (X[i][j] - m) ** 2; v /= W;
    mu[j] = m; sd[j] = Math.sqrt(v) > 1e-9 ? Math.sqrt(v) : 1;
  }
  const Z = X.map((x) => { const z = new Float64Array(d); z[0] = 1; for (let j = 1; j < d; j++) z[j] = (x[j] - mu[j]) / sd[j]; return z; });
  const th = new Float64Array(d), m1 = new Float64Array(d), m2 = new Float64Array(d);
  const b1 = 0.9, b2 = 0.999;
  for (let ep = 1; ep <= epochs; ep++) {
    const g = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      let s = offset ? offset[i] : 0; for (let j = 0; j < d; j++) s += th[j] * Z[i][j];
      const p = 1 / (1 + Math.exp(-Math.max(-30, Math.min(30, s))));
      const e = (p - y[i]) * w[i];
      for (let j = 0; j < d; j++) g[j] += e * Z[i][j];
    }
    for (let j = 0; j < d; j++) {
      g[j] = g[j] / W + (j ? lambda * th[j] : 0);
      m1[j] = b1 * m1[j] + (1 - b1) * g[j];
      m2[j] = b2 * m2[j] + (1 - b2) * g[j] * g[j];
      th[j] -= (lr * (m1[j] / (1 - b1 ** ep))) / (Math.sqrt(m2[j] / (1 - b2 ** ep)) + 1e-8);
    }
  }
  // fold the standardization into raw-feature weights
  const raw = new Float64Array(d);
  raw[0] = th[0];
  for (let j = 1; j < d; j++) { raw[j] = th[j] / sd[j]; raw[0] -= (th[j] * mu[j]) / sd[j]; }
  return raw;
}

export function predict(wts, x, offset = 0) {
  let s = offset; for (let j = 0; j < x.length; j++) s += wts[j] * x[j];
  return 1 / (1 + Math.exp(-Math.max(-30, Math.min(30, s))));
}

// Soft label: P(strong better) target in [0,1]; 0.5 = no difference.
export function label(it) {
  if (it.bench === 'mtbench') return 0.5 + 0.5 * Math.max(-1, Math.min(1, (it.strong - it.weak) / 3));
  return 0.5 + 0.5 * (it.strong - it.weak);
}
