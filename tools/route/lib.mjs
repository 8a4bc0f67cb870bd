// lib.mjs — shared by the routing tools: finds the data and the C feature extractor,
// parses CSV, and loads the RouteLLM evaluation set (GSM8K, MMLU, MT-Bench; Apache-2.0)
// from ../shared/routing-data with the contaminated prompts dropped (data.mjs builds on it).
// Node 20, no dependencies.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');

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

// Items: {bench, id, prompt, weak, strong, cat}
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
    const rw = h.indexOf(`${WEAK}_response`), rs = h.indexOf(`${STRONG}_response`);
    rows.slice(1).forEach((r, k) => {
      if (r.length < 3) return;
      if (bad.has(norm(r[ip]))) { dropped.gsm8k++; return; }
      items.push({ bench: 'gsm8k', id: `gsm8k-${k}`, prompt: r[ip], weak: r[iw] === 'True' ? 1 : 0,
        strong: r[is] === 'True' ? 1 : 0, cat: 'math',
        responseChars: rw >= 0 && rs >= 0 ? { weak: r[rw].length, strong: r[rs].length } : null });
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
  return { items, dropped };
}

export function findFeatureTool(explicit) {
  const cands = [explicit, process.env.GR_ROUTE_FEATURES,
    path.join(REPO, 'build-route', 'route_features'), path.join(REPO, 'build', 'route_features')].filter(Boolean);
  for (const c of cands) if (fs.existsSync(c)) return c;
  throw new Error(`route_features binary not found (tried ${cands.join(', ')}); build it: cmake --build BUILD --target route_features, or pass --features PATH`);
}
