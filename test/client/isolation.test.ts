/**
 * The client entry point stands alone: its sources import nothing outside
 * src/client/ but Node built-ins, and loading the built package (`telegate`)
 * in a fresh node process loads no server module and no dependency.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { ROOT as REPO } from '../../support/replica';

const CLIENT_DIR = path.join(REPO, 'src', 'client');
const BUILT = path.join(REPO, 'dist', 'client', 'index.js');

/** Every module specifier in `import ... from`, `import(...)`, `require(...)` and `export ... from`. */
function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // comments may show usage
  const out: string[] = [];
  const patterns = [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s+['"]([^'"]+)['"]/gm];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

describe('client: stands alone', () => {
  it('src/client imports only its own files and Node built-ins', () => {
    const files = readdirSync(CLIENT_DIR).filter((f) => f.endsWith('.ts'));
    assert.ok(files.includes('index.ts'));
    const builtins = new Set(builtinModules);
    for (const file of files) {
      const specs = specifiers(readFileSync(path.join(CLIENT_DIR, file), 'utf8'));
      for (const spec of specs) {
        if (spec.startsWith('.')) {
          const target = path.resolve(CLIENT_DIR, spec);
          assert.equal(path.dirname(target), CLIENT_DIR, `${file} imports ${spec}, outside src/client`);
        } else {
          assert.ok(spec.startsWith('node:') || builtins.has(spec), `${file} imports the package ${spec}`);
        }
      }
    }
  });

  it('require("telegate") in a fresh process loads only dist/client', function () {
    if (!existsSync(BUILT)) assert.fail(`${BUILT} not found: run npm run build first`);
    const script = [
      "const t = require('telegate');",
      "if (typeof t.TeleGateClient !== 'function') throw new Error('no TeleGateClient');",
      'console.log(JSON.stringify({ resolved: require.resolve("telegate"), loaded: Object.keys(require.cache) }));',
    ].join('\n');
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: REPO, encoding: 'utf8' })) as { resolved: string; loaded: string[] };
    assert.equal(out.resolved, BUILT);
    const outside = out.loaded.filter((f) => !f.startsWith(path.dirname(BUILT) + path.sep));
    assert.deepEqual(outside, []);
    assert.ok(out.loaded.length >= 2, 'the client is split over several modules, all loaded');
  });
});
