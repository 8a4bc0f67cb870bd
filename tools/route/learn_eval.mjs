// learn_eval.mjs — what routing.auto.learning adds to auto's decisions, measured
// with the real binary: for one labelled set of ../shared/routing-data (the
// RouterBench tasks: 11 models with real per-prompt cost), every 5th prompt
// is held out; `gaterouter route --explain` decides each held-out prompt
// with an empty store (the priors), then `gaterouter route calibrate` learns
// from the other four fifths and the same prompts are decided again. Prints
// quality (mean 0/1 outcome of the chosen model) and USD per 1,000 prompts
// at three knobs, before and after, beside every single model.
//
//   node tools/route/learn_eval.mjs [--task arc|mbpp|all] [--data DIR] [--bin build/gaterouter]
//                                   [--prior-strength 20]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadEverything, RB_PRICES } from './data.mjs';
import { REPO, findDataDir } from './lib.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const task = arg('task', 'all');
const bin = arg('bin', path.join(REPO, 'build', 'gaterouter'));
const n0 = Number(arg('prior-strength', '20'));
const items = loadEverything(findDataDir(arg('data'))).filter((it) => it.set === 'routerbench' && (task === 'all' || it.task === task));
if (!items.length) throw new Error(`no RouterBench items for task ${task}`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gr-learn-eval-'));
const models = Object.keys(RB_PRICES);
const config = path.join(dir, 'config.yaml');
fs.writeFileSync(config, [
  'server: { listen: 127.0.0.1:1, workers: 1 }',
  `store: "sqlite://${dir}/learn.db"`,
  'log: { access_log: "-", level: warn }',
  'routing:',
  '  auto:',
  `    learning: { enabled: true, prior_strength: ${n0} }`,
  'providers:',
  '  - { name: mock, kind: mock }',
  'models:',
  ...models.map((m) => `  - { name: ${m}, provider: mock, model: ${m}, pricing: { input: ${RB_PRICES[m][0]}, output: ${RB_PRICES[m][1]} } }`),
].join('\n') + '\n');

const test = items.filter((_, i) => (i + 1) % 5 === 0);
const train = items.filter((_, i) => (i + 1) % 5 !== 0);
fs.writeFileSync(path.join(dir, 'train.jsonl'), train.map((it) => JSON.stringify({ prompt: it.prompt, outcomes: it.outcomes })).join('\n') + '\n');

const POLICIES = ['auto:cheap', 'auto:balanced', 'auto:best'];
function decide() {
  const out = {};
  for (const policy of POLICIES) {
    let q = 0, cost = 0;
    for (const it of test) {
      const req = path.join(dir, 'req.json');
      fs.writeFileSync(req, JSON.stringify({ model: policy, messages: [{ role: 'user', content: it.prompt }] }));
      const text = execFileSync(bin, ['route', '--config', config, '--explain', req], { encoding: 'utf8' });
      const plan = JSON.parse(text.slice(text.indexOf('\n{') + 1));
      const chosen = plan.auto.models.find((m) => m.chosen).model;
      q += it.outcomes[chosen];
      cost += it.cost[chosen];
    }
    out[policy] = { q: q / test.length, usd1k: (1000 * cost) / test.length };
  }
  return out;
}

const before = decide();
const cal = execFileSync(bin, ['route', '--config', config, 'calibrate', path.join(dir, 'train.jsonl')], { encoding: 'utf8' });
const after = decide();
console.log(`RouterBench ${task}: ${items.length} prompts, ${test.length} held out (every 5th); prior_strength ${n0}`);
console.log(cal.trim().split('\n').filter((l) => /log loss/.test(l)).map((l) => `  calibrate (held-out outcomes):${l}`).join('\n'));
console.log("| policy | before: quality | $/1k | after: quality | $/1k |");
console.log('|---|---|---|---|---|');
for (const p of POLICIES)
  console.log(`| ${p} | ${before[p].q.toFixed(3)} | ${before[p].usd1k.toFixed(3)} | ${after[p].q.toFixed(3)} | ${after[p].usd1k.toFixed(3)} |`);
console.log('single models on the same prompts: ' + models.map((m) => {
  const q = test.reduce((a, it) => a + it.outcomes[m], 0) / test.length;
  const c = (1000 * test.reduce((a, it) => a + it.cost[m], 0)) / test.length;
  return `${m} ${q.toFixed(3)} $${c.toFixed(2)}`;
}).join('; '));
fs.rmSync(dir, { recursive: true, force: true });
