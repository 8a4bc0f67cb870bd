// data.mjs — loads every labelled routing set in ../shared/routing-data into one
// shape: {task, set, id, prompt, turns, outcomes: {model: 0..1}, cost: {model: USD} | null,
// outTokens: {model: tokens} | null}. Model ids are normalised (lower case, no org/ prefix)
// so they match tools/route/abilities.json. Sets:
//   routellm  — GSM8K, MMLU, MT-Bench; gpt-4-1106-preview vs Mixtral (Apache-2.0, lm-sys/RouteLLM)
//   routerbench — ARC-Challenge (5-shot), MBPP; 11 models with real per-prompt cost
//                 (withmartian/routerbench via shuhao02/RouterDC; no licence stated: weights only)
//   routerdc  — 7 open 7-8B models on 10 tasks (shuhao02/RouterDC; no licence stated)
// Nothing is copied into the repository; see docs/ROUTING.md for attribution.
import fs from 'node:fs';
import path from 'node:path';
import { loadAll, parseCSV } from './lib.mjs';

export const normId = (m) => m.toLowerCase().replace(/^.*\//, '');

// RouterBench prompts are Python list literals of turns: "['first', \"second\"]".
export function parsePyList(s) {
  const t = s.trim();
  if (!t.startsWith('[')) return [s];
  const out = [];
  let i = 1;
  while (i < t.length) {
    const c = t[i];
    if (c === "'" || c === '"') {
      let j = i + 1, v = '';
      while (j < t.length && t[j] !== c) {
        if (t[j] === '\\' && j + 1 < t.length) {
          const e = t[j + 1];
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
          j += 2;
          continue;
        }
        v += t[j++];
      }
      out.push(v);
      i = j + 1;
      continue;
    }
    i++;
  }
  return out.length ? out : [s];
}

// List prices (USD per 1M input / output tokens) implied by RouterBench's costs.
export const RB_PRICES = {
  'gpt-4-1106-preview': [10, 30], 'gpt-3.5-turbo-1106': [1, 2], 'claude-v2': [8, 24], 'claude-v1': [8, 24],
  'claude-instant-v1': [0.8, 2.4], 'llama-2-70b-chat': [0.9, 0.9], 'code-llama-instruct-34b-chat': [0.776, 0.776],
  'yi-34b-chat': [0.8, 0.8], 'mixtral-8x7b-chat': [0.6, 0.6], 'wizardlm-13b-v1.2': [0.3, 0.3], 'mistral-7b-chat': [0.2, 0.2],
};
// RouteLLM pair at the same list prices (Mixtral-Instruct as RouterBench's Mixtral).
export const RL_PRICES = { 'gpt-4-1106-preview': [10, 30], 'mixtral-8x7b-instruct-v0.1': [0.6, 0.6] };

function loadRouterBench(dir) {
  const items = [];
  for (const [file, task] of [['arc_challenge_train.csv', 'arc'], ['mbpp_train.csv', 'mbpp']]) {
    const p = path.join(dir, 'routerbench-train', file);
    if (!fs.existsSync(p)) continue;
    const rows = parseCSV(fs.readFileSync(p, 'utf8'));
    const h = rows[0];
    const models = h.filter((c) => c && !c.includes('|') && !['sample_id', 'prompt', 'eval_name', 'oracle_model_to_route_to'].includes(c));
    for (const r of rows.slice(1)) {
      if (r.length !== h.length) continue;
      const turns = parsePyList(r[h.indexOf('prompt')]);
      const it = { task, set: 'routerbench', id: r[h.indexOf('sample_id')], prompt: turns[turns.length - 1], turns,
        outcomes: {}, cost: {}, outTokens: {} };
      for (const m of models) {
        const id = normId(m);
        it.outcomes[id] = Number(r[h.indexOf(m)]);
        it.cost[id] = Number(r[h.indexOf(`${m}|total_cost`)]);
        it.outTokens[id] = r[h.indexOf(`${m}|model_response`)].length / 4;
      }
      items.push(it);
    }
  }
  return items;
}

function loadRouteLLM(dir) {
  const { items } = loadAll(dir);
  const S = 'gpt-4-1106-preview', W = 'mixtral-8x7b-instruct-v0.1';
  return items.map((it) => {
    const mt = it.bench === 'mtbench';
    const o = { task: it.bench, set: 'routellm', id: it.id, prompt: it.prompt, turns: [it.prompt], cat: it.cat,
      outcomes: { [S]: mt ? it.strong / 10 : it.strong, [W]: mt ? it.weak / 10 : it.weak }, cost: {},
      outTokens: it.responseChars ? { [S]: it.responseChars.strong / 4, [W]: it.responseChars.weak / 4 } : null };
    // realised cost at list prices: prompt bytes/4 tokens; answer length where the set has it
    const pt = Buffer.byteLength(it.prompt) / 4;
    // answer tokens: the real response where the set has it (GSM8K), else 5 (MMLU letter), 400 (MT-Bench)
    for (const [m, [pi, po]] of Object.entries(RL_PRICES)) {
      const ot = o.outTokens ? o.outTokens[m] : it.bench === 'mmlu' ? 5 : 400;
      o.cost[m] = (pt * pi + ot * po) / 1e6;
    }
    return o;
  });
}

const RDC_FILES = {
  'mmlu_train.json': 'mmlu', 'mmlu_test.json': 'mmlu', 'gsm8k-train.json': 'gsm8k', 'gsm8k-test.json': 'gsm8k',
  'cmmlu_train.json': 'cmmlu', 'cmmlu_test.json': 'cmmlu', 'ceval.json': 'ceval', 'arc_easy_train.json': 'arc',
  'arc_easy_test.json': 'arc', 'arc_challenge_train.json': 'arc', 'arc_challenge_test.json': 'arc',
  'humaneval_train.json': 'humaneval', 'humaneval_test.json': 'humaneval', 'mbpp.json': 'mbpp',
  'MATH_prealgebra.json': 'math', 'javascript.json': 'javascript',
};

function loadRouterDC(dir) {
  const items = [];
  for (const [file, task] of Object.entries(RDC_FILES)) {
    const p = path.join(dir, 'routerdc-7models', file);
    if (!fs.existsSync(p)) continue;
    JSON.parse(fs.readFileSync(p, 'utf8')).forEach((q, k) => {
      const outcomes = {};
      for (const [m, s] of Object.entries(q.scores)) outcomes[normId(m)] = Number(s);
      items.push({ task, set: 'routerdc', id: `${file}-${k}`, prompt: q.question, turns: [q.question], outcomes, cost: null, outTokens: null });
    });
  }
  return items;
}

// Our own small-talk / simple-instruction slice (tools/route/smalltalk.jsonl, written for this
// project: greetings, thanks, chit-chat, formatting requests, one-line asks). The benchmark sets
// have no such prompts, so without it a greeting's skill mixture is whatever the n-grams of exam
// questions say. Labels: skill 'instruction'; outcome 1 for every RouterBench / RouteLLM model —
// an assumption (any chat model answers these acceptably), so these items train the skill
// mixture and the difficulty only, never alpha or a model's calibration (assumed: true).
export const SMALLTALK_FILE = path.join(path.dirname(new URL(import.meta.url).pathname), 'smalltalk.jsonl');
export function loadSmallTalk() {
  const models = [...Object.keys(RB_PRICES), ...Object.keys(RL_PRICES)];
  return fs.readFileSync(SMALLTALK_FILE, 'utf8').split('\n').filter((l) => l.trim()).map((l, k) => {
    const o = JSON.parse(l);
    return { task: 'smalltalk', set: 'gaterouter', id: `smalltalk-${k}`, prompt: o.prompt, turns: [o.prompt], cat: o.kind,
      outcomes: Object.fromEntries(models.map((m) => [m, 1])), cost: null, outTokens: null, assumed: true };
  });
}

export function loadEverything(dir) {
  return [...loadRouteLLM(dir), ...loadRouterBench(dir), ...loadRouterDC(dir), ...loadSmallTalk()];
}

// The chat request the gateway would see for an item.
export function requestOf(it) {
  const msgs = [];
  it.turns.forEach((t, i) => msgs.push({ role: i % 2 === 0 ? 'user' : 'assistant', content: t }));
  if (msgs.length % 2 === 0) msgs.pop(); // end on a user turn
  return { messages: msgs };
}

// Skill the training task exercises (labels of the skill mixture).
export function skillOf(it) {
  switch (it.task) {
    case 'mmlu': return 0;
    case 'arc': return 1;
    case 'gsm8k': case 'math': return 2;
    case 'mbpp': case 'humaneval': case 'javascript': return 3;
    case 'cmmlu': case 'ceval': return 5;
    case 'mtbench':
      return { reasoning: 1, math: 2, coding: 3, stem: 0, humanities: 0 }[it.cat] ?? 4;
    default: return 4;
  }
}
