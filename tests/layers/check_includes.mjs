// check_includes.mjs — the layer check: every `#include "x.h"` in src/ must
// point at the same or a lower layer of the map in docs/ARCHITECTURE.md
// (section "Layers"), and in an isolated layer never at another unit of that
// layer. Fails on: an upward or lateral include not listed as a known
// exception, a file of src/ the map does not place, a file named in one layer
// but kept in the folder of another, two files of src/ with one name (includes
// are by bare name), and an exception that no longer occurs (the list only
// shrinks). The build enforces the layers between folders too (each folder is
// a library that sees only the folders below, cmake/layers.cmake); this check
// also sees the lateral includes inside a folder. Node only, no dependencies.
//   node tests/layers/check_includes.mjs [repo-root]     check the tree
//   node tests/layers/check_includes.mjs --self-test     prove the checker fails
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const moduleOf = (file) => file.replace(/\.(c|h)$/, '');
const folderOf = (path) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '');

// The map: the lines between "<!-- layer-map:begin -->" and "<!-- layer-map:end -->".
//   L<n> <name> [isolated]: unit | unit ...   (a unit: names, space separated, each
//   a folder of src/ with its slash (`net/`: every file in it), a module — a file's
//   name without .c/.h, bare or with its folder (`features/auth`) — or a file
//   name with its extension, which places that file alone)
//   except <file> -> <header>  (reason; bare file names)
export function parseMap(text) {
  const m = text.split('<!-- layer-map:begin -->')[1]?.split('<!-- layer-map:end -->')[0];
  if (!m) throw new Error('docs/ARCHITECTURE.md has no layer map (<!-- layer-map:begin --> … end)');
  const where = new Map(); // name -> {layer, name, unit, isolated}
  const exceptions = new Map(); // "file -> header" -> reason
  for (const raw of m.split('\n')) {
    const line = raw.trim();
    let x;
    if ((x = /^L(\d+)\s+(\S+)(\s+isolated)?:\s*(.*)$/.exec(line))) {
      const units = x[4].split('|').map((u) => u.trim().split(/\s+/).filter(Boolean));
      units.forEach((mods, unit) => {
        for (const mod of mods) {
          if (where.has(mod)) throw new Error(`layer map: ${mod} placed twice`);
          where.set(mod, { layer: Number(x[1]), name: x[2], unit, isolated: !!x[3] });
        }
      });
    } else if ((x = /^except\s+(\S+)\s+->\s+(\S+)\s*(.*)$/.exec(line))) {
      exceptions.set(`${x[1]} -> ${x[2]}`, x[3]);
    }
  }
  return { where, exceptions };
}

// files: Map path under src/ ("net/upstream.h") -> text. Returns a list of
// problems (empty = clean).
export function check(files, mapText) {
  const { where, exceptions } = parseMap(mapText);
  const problems = [];
  const used = new Set();
  const byName = new Map(); // bare file name -> path (what an #include names)
  for (const path of files.keys()) {
    const name = basename(path);
    if (byName.has(name)) problems.push(`${path}: same name as ${byName.get(name)} (includes are by bare name): rename one`);
    else byName.set(name, path);
  }
  const byNameOf = (path) => {
    const name = basename(path);
    return where.get(path) || where.get(moduleOf(path)) || where.get(name) || where.get(moduleOf(name));
  };
  const place = (path) => byNameOf(path) || where.get(folderOf(path));
  for (const [path, text] of files) {
    const file = basename(path);
    const from = place(path);
    if (!from) {
      problems.push(`${path}: not in the layer map (docs/ARCHITECTURE.md, Layers): place it in a layer`);
      continue;
    }
    const folder = where.get(folderOf(path));
    if (byNameOf(path) && folder && folder.layer !== from.layer)
      problems.push(`${path}: the map places it in L${from.layer} ${from.name} but it sits in the folder of L${folder.layer} ${folder.name}`);
    for (const inc of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
      const header = inc[1];
      if (!byName.has(header)) continue; // a system or generated header
      const to = place(byName.get(header));
      if (!to) continue; // reported once as an unmapped file
      const key = `${file} -> ${header}`;
      let why = null;
      if (to.layer > from.layer) why = `upward: L${from.layer} ${from.name} includes L${to.layer} ${to.name}`;
      else if (to.layer === from.layer && from.isolated && to.unit !== from.unit)
        why = `lateral in isolated layer L${from.layer} ${from.name}`;
      if (!why) continue;
      if (exceptions.has(key)) used.add(key);
      else problems.push(`${key}: ${why}`);
    }
  }
  for (const key of exceptions.keys())
    if (!used.has(key)) problems.push(`${key}: listed as a known exception but no longer occurs: remove it from the map`);
  return problems;
}

function selfTest() {
  const map = `<!-- layer-map:begin -->
L0 base: low/ split.h
L1 mid isolated: mid/a | mid/b
L2 top: top/ split.c
except b.c -> a.h  (known)
<!-- layer-map:end -->`;
  const clean = new Map([['low/low.h', ''], ['mid/a.h', '#include "low.h"'], ['mid/b.h', ''], ['mid/b.c', '#include "a.h"\n'],
    ['mid/a.c', '#include "a.h"\n#include "low.h"'], ['top/high.c', '#include "a.h"\n#include "b.h"']]);
  const cases = [
    ['clean tree', clean, 0],
    ['upward include', new Map([...clean, ['low/low.c', '#include "high.h"'], ['top/high.h', '']]), 1],
    ['lateral include in an isolated layer', new Map([...clean, ['mid/a.c', '#include "b.h"']]), 1],
    ['unmapped file', new Map([...clean, ['new_feature.c', '']]), 1],
    ['a new file in an isolated layer\'s folder, not named as a unit', new Map([...clean, ['mid/c.c', '']]), 1],
    ['a file in a mapped folder', new Map([...clean, ['top/new.c', '#include "low.h"']]), 0],
    ['a file named in one layer kept in the folder of another', new Map([...clean, ['top/split.h', '']]), 1],
    ['two files with one name', new Map([...clean, ['top/low.h', '']]), 1],
    ['stale exception', new Map([...clean, ['mid/b.c', '']]), 1],
    ['a file placed apart from its header', new Map([...clean, ['low/split.h', ''], ['top/split.c', '#include "high.h"'], ['top/high.h', '']]), 0],
    ['a header below its own .c', new Map([...clean, ['low/split.h', '#include "high.h"'], ['top/high.h', '']]), 1],
  ];
  let bad = 0;
  for (const [name, files, want] of cases) {
    const got = check(files, map);
    const ok = want ? got.length === want : got.length === 0;
    console.log(`${ok ? 'ok' : 'FAIL'} - ${name}${got.length ? ': ' + got.join('; ') : ''}`);
    if (!ok) bad++;
  }
  return bad ? 1 : 0;
}

function main() {
  if (process.argv[2] === '--self-test') process.exit(selfTest());
  const root = process.argv[2] || join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const src = join(root, 'src');
  const files = new Map();
  const walk = (dir, prefix) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), `${prefix}${e.name}/`);
      else if (/\.(c|h)$/.test(e.name)) files.set(prefix + e.name, readFileSync(join(dir, e.name), 'utf8'));
    }
  };
  walk(src, '');
  const problems = check(files, readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8'));
  for (const p of problems) console.error(`layers: ${p}`);
  if (problems.length) process.exit(1);
  console.log(`layers: ${files.size} files of src/ follow the layer map`);
}

main();
