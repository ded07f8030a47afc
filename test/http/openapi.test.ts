/**
 * GET /openapi.json, /docs and /ui as served: the description covers every
 * route of the route table (src/http/routes.ts) with the very parameter schemas
 * ajv validates with, every route it documents answers, and real answers of the
 * API validate against the response shapes it documents. The HTML pages
 * reference only local assets, under their own strict CSP.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import request from 'supertest';
import { StoreUnavailableError } from '../../src/errors';
import { ROUTE_TABLE, isPublic } from '../../src/http/routes';
import { MemoryStore } from '../../src/pool/memory';
import { ADMIN_KEY, KEY, makeApp, sessionsDir, type TestApp } from '../helpers/app';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The route table's entry for a documented operation. */
const routeOf = (path: string, method: string) => ROUTE_TABLE.find((r) => r.path === path && r.method.toLowerCase() === method);

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) refs(x, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

function resolve(doc: Json, ref: string): unknown {
  assert.match(ref, /^#\//);
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Json)[part] : undefined), doc);
}

describe('GET /openapi.json', () => {
  let t: TestApp;
  let doc: Json;

  before(async () => {
    t = await makeApp('memory');
    doc = (await request(t.app).get('/openapi.json').expect(200).expect('Content-Type', /application\/json/)).body;
  });
  after(() => t.close());

  it('needs no key and looks like OpenAPI 3.1', () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'TeleGate');
    assert.match(doc.info.version, /^\d+\.\d+\.\d+/);
    assert.equal(typeof doc.paths, 'object');
    assert.deepEqual(doc.components.securitySchemes, { ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' } });
    assert.deepEqual(doc.security, [{ ApiKeyAuth: [] }]);
  });

  it('describes every route of the table with each of its methods, and nothing else', () => {
    assert.deepEqual(Object.keys(doc.paths).sort(), [...new Set(ROUTE_TABLE.map((r) => r.path))].sort());
    for (const path of Object.keys(doc.paths)) {
      const methods = ROUTE_TABLE.filter((r) => r.path === path).map((r) => r.method.toLowerCase());
      assert.deepEqual(Object.keys(doc.paths[path]).sort(), methods.sort(), path);
    }
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item as Json).map((op) => String((op as Json).operationId)));
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  it('takes its parameters from the schemas ajv validates with', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item as Json)) {
        const schema = routeOf(path, method)?.params;
        const params = (op.parameters ?? []) as Json[];
        if (!schema) {
          assert.deepEqual(params, [], `${path} takes no parameters`);
          continue;
        }
        assert.deepEqual(params.map((p) => String(p.name)), Object.keys(schema.properties), path);
        for (const p of params) {
          assert.equal(p.in, 'query');
          assert.deepEqual(p.schema, schema.properties[p.name], `${path} ${p.name}`);
          assert.equal(p.required, (schema.required ?? []).includes(p.name), `${path} ${p.name} required`);
        }
        if (method === 'post') {
          assert.deepEqual(op.requestBody.content['application/json'].schema, schema);
          assert.deepEqual(op.requestBody.content['application/x-www-form-urlencoded'].schema, schema);
        }
        if (Object.keys(schema.properties).length > 0) assert.ok(op.responses['422'], `${path} documents 422`);
      }
    }
  });

  it('marks exactly the public endpoints as needing no key', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const [method, op] = Object.entries(item as Json)[0] as [string, Json];
      const route = routeOf(path, method);
      assert.ok(route, path);
      if (isPublic(route, false)) {
        assert.deepEqual(op.security, [], `${path} is public`);
        assert.equal(op.responses['401'], undefined);
      } else {
        assert.equal(op.security, undefined, `${path} uses the global X-API-Key requirement`);
        for (const status of ['401', '403', '429']) assert.ok(op.responses[status], `${path} documents ${status}`);
      }
    }
  });

  it('every documented operation answers (never 404/405), with a status it documents', async () => {
    // Admin key required for admin routes; metrics on, so /metrics exists.
    const dir = sessionsDir();
    const a = await makeApp('memory', { TELEGATE_ADMIN_KEYS: ADMIN_KEY, TELEGATE_SESSIONS_DIR: dir }, undefined, { metrics: true });
    try {
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item as Json)) {
          const r = await request(a.app)[method as 'get' | 'post'](path).set('X-API-Key', ADMIN_KEY);
          assert.ok(![404, 405].includes(r.status), `${method.toUpperCase()} ${path} answers ${r.status}`);
          assert.ok(op.responses[String(r.status)], `${method.toUpperCase()} ${path} documents its ${r.status}`);
        }
      }
    } finally {
      await a.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents /metrics as public when TELEGATE_METRICS_PUBLIC is on', async () => {
    const pub = await makeApp('memory', { TELEGATE_METRICS_PUBLIC: 'true' });
    const d = (await request(pub.app).get('/openapi.json').expect(200)).body as Json;
    assert.deepEqual(d.paths['/metrics'].get.security, []);
    assert.equal(doc.paths['/metrics'].get.security, undefined);
    await pub.close();
  });

  it('has the error shapes (401/403/404/405/409/422/429/503) and every $ref resolves', () => {
    const r = doc.components.responses as Json;
    for (const name of ['Unauthorized', 'Forbidden', 'NotFound', 'MethodNotAllowed', 'Conflict', 'ValidationError', 'TooManyRequests', 'StoreUnavailable', 'InternalError']) {
      assert.ok(r[name]?.content?.['application/json']?.schema, name);
    }
    assert.ok(r.TooManyRequests.headers['Retry-After']);
    const all = refs(doc);
    assert.ok(all.length > 20);
    for (const ref of all) assert.ok(resolve(doc, ref) !== undefined, `${ref} does not resolve`);
  });

  it('every schema in it compiles as JSON Schema 2020-12, with no unknown keyword', () => {
    const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
    const defs = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('"#/components/schemas/', '"openapi#/$defs/'));
    ajv.addSchema({ $id: 'openapi', $defs: defs });
    for (const name of Object.keys(defs)) assert.doesNotThrow(() => ajv.compile({ $ref: `openapi#/$defs/${name}` }), name);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const op of Object.values(item as Json)) {
        for (const p of (op.parameters ?? []) as Json[]) assert.doesNotThrow(() => ajv.compile(p.schema), `${path} ${p.name}`);
      }
    }
  });
});

describe('real answers validate against the documented responses', () => {
  let t: TestApp;
  let dir: string;
  let doc: Json;
  let ajv: Ajv2020;

  before(async () => {
    dir = sessionsDir('alpha', 'beta');
    t = await makeApp('memory', { TELEGATE_SESSIONS_DIR: dir });
    doc = (await request(t.app).get('/openapi.json').expect(200)).body;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema(JSON.parse(JSON.stringify({ $id: 'openapi', components: doc.components }).replaceAll('"#/components', '"openapi#/components')));
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function check(method: string, path: string, r: request.Response, docOverride?: Json): void {
    const d = docOverride ?? doc;
    let resp = d.paths[path]?.[method]?.responses?.[String(r.status)] as Json | undefined;
    assert.ok(resp, `${method.toUpperCase()} ${path} does not document ${r.status}`);
    if (typeof resp.$ref === 'string') resp = resolve(d, resp.$ref) as Json;
    const schema = resp.content?.['application/json']?.schema as Json | undefined;
    assert.ok(schema, `${method.toUpperCase()} ${path} ${r.status} has a JSON schema`);
    const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"openapi#/components')));
    assert.ok(validate(r.body), `${method.toUpperCase()} ${path} ${r.status}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(r.body)}`);
  }

  const call = async (method: 'get' | 'post', path: string, status: number, params?: Json, key: string | null = KEY): Promise<request.Response> => {
    let req = request(t.app)[method](path);
    if (key !== null) req = req.set('X-API-Key', key);
    if (params) req = method === 'get' ? req.query(params) : req.send(params);
    const r = await req.expect(status);
    check(method, path, r);
    return r;
  };

  it('for every endpoint and its documented failures', async () => {
    await call('post', '/sync', 200);
    await call('get', '/status', 200);
    await call('get', '/status', 401, undefined, null);
    await call('get', '/status', 403, undefined, 'nope');
    const a = (await call('get', '/session', 200)).body as { session_id: number; lease_token: string };
    const b = (await call('get', '/session', 200)).body as { session_id: number; lease_token: string };
    await call('get', '/session', 503);
    await call('get', '/session', 422, { wait: 99 });
    await call('post', '/heartbeat', 200, { session_id: a.session_id, lease_token: a.lease_token });
    await call('post', '/heartbeat', 409, { session_id: a.session_id, lease_token: 'stale' });
    await call('post', '/heartbeat', 404, { session_id: 999, lease_token: 'x' });
    await call('post', '/release', 409, { session_id: a.session_id, lease_token: 'stale' });
    await call('post', '/release', 422, {});
    await call('post', '/release', 200, { session_id: a.session_id, lease_token: a.lease_token });
    await call('post', '/release', 413, { session_id: 1, lease_token: 'x'.repeat(20_000) });
    await call('post', '/floodwait', 200, { session_id: b.session_id, wait_seconds: 60, lease_token: b.lease_token });
    await call('post', '/floodwait', 404, { session_id: 999, wait_seconds: 1 });
    await call('post', '/floodwait', 200, { session_id: b.session_id, wait_seconds: 60, scope: 'messages.sendMessage' });
    await call('post', '/report', 200, { session_id: b.session_id, error: 'FLOOD_WAIT_60', method: 'contacts.resolveUsername' });
    await call('post', '/report', 200, { session_id: b.session_id, error: 'RPC_CALL_FAIL' });
    await call('post', '/report', 404, { session_id: 999, error: 'PEER_FLOOD' });
    await call('post', '/report', 409, { session_id: b.session_id, error: 'PEER_FLOOD', lease_token: 'stale' });
    await call('post', '/report', 422, { session_id: b.session_id });
    await call('get', '/session', 503, { scope: 'messages.sendMessage', tag: 'x' });
    await call('get', '/session', 422, { scope: 'a b' });
    const c = (await call('get', '/session', 200)).body as { session_id: number; lease_token: string };
    const d = (await call('post', '/release', 200, { session_id: c.session_id, lease_token: c.lease_token, next: true })).body as typeof c;
    await call('post', '/floodwait', 503, { session_id: d.session_id, wait_seconds: 60, lease_token: d.lease_token, next: true });
    await call('post', '/release', 200, { session_id: d.session_id });
    await call('get', '/session', 503); // with Retry-After: a flood wait ends at a known time
    await call('post', '/invalidate', 200, { session_id: a.session_id, reason: 'USER_DEACTIVATED' });
    await call('get', '/sessions', 200, { limit: 1 });
    await call('get', '/sessions', 200, { state: 'invalidated' });
    await call('get', '/sessions', 422, { state: 'bogus' });
    await call('get', '/sessions', 200, { health: 'ok', scope: 'messages.sendmessage', tag: 'x' });
    await call('get', '/sessions', 200, {});
    await call('get', '/events', 200, { limit: 3 });
    await call('get', '/events', 200, { session_id: b.session_id });
    await call('get', '/events', 422, { cursor: 'nope' });
    await call('post', '/restore', 200, { session_id: a.session_id });
    await call('post', '/restore', 404, { session_id: 999 });
    await call('get', '/healthz', 200, undefined, null);
    await call('get', '/readyz', 200, undefined, null);
    await call('get', '/openapi.json', 200, undefined, null);
    rmSync(dir, { recursive: true, force: true });
    await call('post', '/sync', 500);
  });

  it('for 403 on admin endpoints, 429, 503 store_unavailable and readiness 503', async () => {
    const admin = await makeApp('memory', { TELEGATE_ADMIN_KEYS: 'admin-key-0123456789', TELEGATE_RATE_LIMIT: '2' });
    const r403 = await request(admin.app).get('/sessions').set('X-API-Key', KEY).expect(403);
    check('get', '/sessions', r403);
    await request(admin.app).get('/status').set('X-API-Key', KEY).expect(200);
    const r429 = await request(admin.app).get('/status').set('X-API-Key', KEY).expect(429);
    check('get', '/status', r429);
    await admin.close();

    const down = new MemoryStore();
    down.status = () => Promise.reject(new StoreUnavailableError());
    down.acquire = () => Promise.reject(new StoreUnavailableError());
    down.ping = () => Promise.resolve(false);
    const d = await makeApp('memory', {}, down);
    check('get', '/status', await request(d.app).get('/status').set('X-API-Key', KEY).expect(503));
    check('get', '/session', await request(d.app).get('/session').set('X-API-Key', KEY).expect(503));
    check('get', '/readyz', await request(d.app).get('/readyz').expect(503));
    await d.close();
  });

  it('for unknown routes and wrong methods (404/405 component shapes)', async () => {
    const r404 = await request(t.app).get('/nope').expect(404);
    const r405 = await request(t.app).put('/status').expect(405);
    for (const [r, name] of [[r404, 'NotFound'], [r405, 'MethodNotAllowed']] as const) {
      const schema = doc.components.responses[name].content['application/json'].schema as Json;
      const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components', '"openapi#/components')));
      assert.ok(validate(r.body), name);
    }
  });
});

describe('GET /docs and GET /ui (static pages)', () => {
  let t: TestApp;

  before(async () => {
    t = await makeApp('memory');
  });
  after(() => t.close());

  /** src/href values of an HTML page. */
  const assetsOf = (html: string): string[] => [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1] as string);

  for (const page of ['/docs', '/ui']) {
    it(`${page}: HTML with no key, referencing only local assets that load without a key`, async () => {
      const r = await request(t.app).get(page).expect(200).expect('Content-Type', /text\/html/);
      const assets = assetsOf(r.text);
      assert.ok(assets.length >= 2, `${page} references its assets`);
      for (const a of assets) {
        assert.ok(!/^[a-z][a-z0-9+.-]*:|^\/\//i.test(a), `${page} references a non-local URL: ${a}`);
        if (a === 'docs' && page === '/ui') continue; // the link to the API docs
        const asset = await request(t.app).get(`/${a}`).expect(200);
        assert.ok(!/text\/html/.test(String(asset.headers['content-type'])), `${a} is a real asset`);
      }
      assert.ok(!/<script>[^<]/.test(r.text) && !/\son[a-z]+=/.test(r.text), `${page} has no inline script`);
    });

    it(`${page}: a strict CSP of its own (this origin only), not the API's`, async () => {
      const r = await request(t.app).get(page).expect(200);
      const csp = String(r.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /connect-src 'self'(;|$)/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.ok(!/https:|\*|unsafe-eval/.test(csp), csp);
      const api = await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
      assert.notEqual(api.headers['content-security-policy'], csp);
    });

    it(`${page}/ redirects to ${page}; unknown files under it are JSON 404s; POST is 405`, async () => {
      const r = await request(t.app).get(`${page}/`).expect(301);
      assert.equal(r.headers.location, `..${page}`);
      const prefix = page === '/docs' ? '/docs/assets' : '/ui';
      for (const bad of [`${prefix}/nope.js`, `${prefix}/.hidden`, `${prefix}/..%2fpackage.json`, `${prefix}/%2e%2e/%2e%2e/package.json`]) {
        const n = await request(t.app).get(bad).expect(404).expect('Content-Type', /json/);
        assert.deepEqual(n.body, { detail: 'Not Found' }, bad);
      }
      await request(t.app).post(page).expect(405);
    });
  }

  it('/docs serves only the swagger-ui-dist files it needs (not its petstore index)', async () => {
    await request(t.app).get('/docs/assets/swagger-ui-bundle.js').expect(200).expect('Content-Type', /javascript/);
    await request(t.app).get('/docs/assets/swagger-ui.css').expect(200).expect('Content-Type', /css/);
    await request(t.app).get('/docs/assets/index.html').expect(404);
    await request(t.app).get('/docs/assets/swagger-initializer.js').expect(404);
    const init = await request(t.app).get('/docs/assets/init.js').expect(200);
    assert.match(init.text, /openapi\.json/);
    assert.match(init.text, /validatorUrl: null/); // no call to validator.swagger.io
  });
});
