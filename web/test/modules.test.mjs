// The page's ES modules fit together without a browser: every relative import names a
// module in web/ that exports that name, and every module is embedded by the server
// (src/server/web.rs, ASSETS) at its own path, since the browser fetches each one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const web = fileURLToPath(new URL('..', import.meta.url));
const modules = readdirSync(web).filter((f) => f.endsWith('.js'));
const source = Object.fromEntries(modules.map((f) => [f, readFileSync(join(web, f), 'utf8')]));

function exportsOf(src) {
  const names = new Set();
  for (const m of src.matchAll(/^export\s+(?:async\s+)?(?:function\*?|class|const|let|var)\s+([\w$]+)/gm)) names.add(m[1]);
  for (const m of src.matchAll(/^export\s*\{([^}]*)\}/gm)) for (const n of m[1].split(',')) if (n.trim()) names.add(n.trim().split(/\s+as\s+/).pop());
  return names;
}
function importsOf(src) {
  return [...src.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'([^']+)'/gm)].map((m) => ({
    from: m[2], names: m[1].split(',').map((n) => n.trim().split(/\s+as\s+/)[0]).filter(Boolean),
  }));
}

test('every import names an export of a module in web/', () => {
  for (const [file, src] of Object.entries(source)) {
    assert.doesNotMatch(src, /^import\s+(?!\{)/m, `${file}: only named imports ({ ... } from './x.js')`);
    for (const { from, names } of importsOf(src)) {
      assert.match(from, /^\.\/[\w-]+\.js$/, `${file}: imports ${from} from the same origin, relatively`);
      const target = from.slice(2);
      assert.ok(source[target], `${file}: ${from} exists`);
      const exported = exportsOf(source[target]);
      for (const n of names) assert.ok(exported.has(n), `${file}: ${target} exports ${n}`);
    }
  }
});

test('every module is reachable from app.js and embedded by the server', () => {
  const seen = new Set(), todo = ['app.js'];
  while (todo.length) {
    const f = todo.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    for (const { from } of importsOf(source[f])) todo.push(from.slice(2));
  }
  assert.deepEqual([...seen].sort(), [...modules].sort(), 'no module is left out of the page');
  const rs = readFileSync(join(web, '..', 'src', 'server', 'web.rs'), 'utf8');
  for (const f of modules) {
    assert.ok(rs.includes(`asset!("/${f}", "${f}", JS)`), `ASSETS serves /${f}`);
  }
});
