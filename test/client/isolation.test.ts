/**
 * The client is its own package (clients/typescript, `telegate-client`) and
 * stands alone: its sources import nothing outside its src/ but Node
 * built-ins; the built package, loaded by its name in a fresh node process,
 * loads no server module and no dependency; `npm pack` ships dist/, the README
 * and package.json with no dependency; its version comes from its
 * package.json. The server's root package no longer exports it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { TeleGateClient, VERSION } from '../../clients/typescript/src';
import { ROOT as REPO } from '../../support/replica';

const PACKAGE_DIR = path.join(REPO, 'clients', 'typescript');
const CLIENT_DIR = path.join(PACKAGE_DIR, 'src');
const BUILT_DIR = path.join(PACKAGE_DIR, 'dist');
const BUILT = path.join(BUILT_DIR, 'index.js');

interface PackageJson {
  name?: string;
  version?: string;
  private?: boolean;
  main?: string;
  types?: string;
  exports?: unknown;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  bundleDependencies?: unknown;
}

const readJson = (file: string): PackageJson => JSON.parse(readFileSync(file, 'utf8')) as PackageJson;

function needBuilt(): void {
  if (!existsSync(BUILT)) assert.fail(`${BUILT} not found: run npm run build:client first (npm test does)`);
}

/** Every module specifier in `import ... from`, `import(...)`, `require(...)` and `export ... from`. */
function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // comments may show usage
  const out: string[] = [];
  const patterns = [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s+['"]([^'"]+)['"]/gm];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Run `script` with node in `cwd`; its stdout parsed as JSON. */
function nodeJson<T>(script: string, cwd: string): T {
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd, encoding: 'utf8' })) as T;
}

describe('client: its own package, standing alone', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'telegate-client-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('clients/typescript/src imports only its own files and Node built-ins', () => {
    const files = readdirSync(CLIENT_DIR).filter((f) => f.endsWith('.ts'));
    assert.ok(files.includes('index.ts'));
    const builtins = new Set(builtinModules);
    for (const file of files) {
      const specs = specifiers(readFileSync(path.join(CLIENT_DIR, file), 'utf8'));
      for (const spec of specs) {
        if (spec.startsWith('.')) {
          const target = path.resolve(CLIENT_DIR, spec);
          assert.equal(path.dirname(target), CLIENT_DIR, `${file} imports ${spec}, outside clients/typescript/src`);
        } else {
          assert.ok(spec.startsWith('node:') || builtins.has(spec), `${file} imports the package ${spec}`);
        }
      }
    }
  });

  it('require("telegate-client") in a fresh process loads only its dist/', () => {
    needBuilt();
    // An application that installed the package: node_modules/telegate-client is the package folder.
    mkdirSync(path.join(tmp, 'node_modules'));
    symlinkSync(PACKAGE_DIR, path.join(tmp, 'node_modules', 'telegate-client'), 'dir');
    const script = [
      "const t = require('telegate-client');",
      "if (typeof t.TeleGateClient !== 'function') throw new Error('no TeleGateClient');",
      'console.log(JSON.stringify({ resolved: require.resolve("telegate-client"), loaded: Object.keys(require.cache) }));',
    ].join('\n');
    const out = nodeJson<{ resolved: string; loaded: string[] }>(script, tmp);
    assert.equal(out.resolved, BUILT);
    const outside = out.loaded.filter((f) => !f.startsWith(BUILT_DIR + path.sep));
    assert.deepEqual(outside, []);
    assert.ok(out.loaded.length >= 2, 'the client is split over several modules, all loaded');
  });

  it('npm pack ships only dist/, README.md and package.json, with no dependency', () => {
    needBuilt();
    // --ignore-scripts: pack what `npm run build:client` built (prepack would rebuild it in place).
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: PACKAGE_DIR, encoding: 'utf8' });
    const [packed] = JSON.parse(out) as { name: string; version: string; files: { path: string }[] }[];
    assert.ok(packed);
    const pkg = readJson(path.join(PACKAGE_DIR, 'package.json'));
    assert.equal(packed.name, 'telegate-client');
    assert.equal(packed.version, pkg.version);
    const files = packed.files.map((f) => f.path).sort();
    const others = files.filter((f) => !f.startsWith('dist/') && f !== 'README.md' && f !== 'package.json');
    assert.deepEqual(others, []);
    assert.ok(files.includes('README.md') && files.includes('package.json'));
    // Every module of src/ is shipped, with its declarations; nothing else is in dist/.
    const modules = readdirSync(CLIENT_DIR)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, ''));
    assert.deepEqual(files.filter((f) => f.startsWith('dist/')), modules.flatMap((m) => [`dist/${m}.d.ts`, `dist/${m}.js`]).sort());
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.peerDependencies, undefined);
    assert.equal(pkg.optionalDependencies, undefined);
    assert.equal(pkg.bundleDependencies, undefined);
  });

  it('VERSION and the User-Agent come from the package.json, not a constant', async () => {
    needBuilt();
    const pkg = readJson(path.join(PACKAGE_DIR, 'package.json'));
    assert.equal(VERSION, pkg.version);
    // A copy of the built package with another version in its package.json reports that version.
    const copy = path.join(tmp, 'telegate-client');
    cpSync(BUILT_DIR, path.join(copy, 'dist'), { recursive: true });
    writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...pkg, version: '9.8.7-copy' }));
    const out = nodeJson<{ version: string }>(`console.log(JSON.stringify({ version: require(${JSON.stringify(copy)}).VERSION }))`, tmp);
    assert.equal(out.version, '9.8.7-copy');

    const agents: (string | null)[] = [];
    const client = new TeleGateClient({
      baseUrl: 'http://telegate.invalid',
      apiKey: 'k',
      fetch: (_url: string | URL | Request, init?: RequestInit) => {
        agents.push(new Headers(init?.headers).get('user-agent'));
        return Promise.resolve(Response.json({ total: 0, free: 0, in_use: 0, in_floodwait: 0, next_available: null, invalidated: 0, rests: {}, health: {} }));
      },
    });
    await client.getStatus();
    assert.deepEqual(agents, [`telegate-client/${pkg.version} (node)`]);
  });

  it('the server package is private and no longer exports the client', () => {
    const root = readJson(path.join(REPO, 'package.json'));
    assert.equal(root.private, true);
    assert.equal(root.main, undefined);
    assert.equal(root.types, undefined);
    assert.equal(root.exports, undefined);
    assert.ok(!existsSync(path.join(REPO, 'src', 'client')), 'src/client moved to clients/typescript/src');
  });
});
