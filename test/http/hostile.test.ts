/**
 * Hostile requests (issue 10 items 5 and 13), on both stores: HEAD never
 * leases, and whatever the body holds (too deep to echo, corrupt gzip/br, an
 * unknown encoding or charset, huge numbers, __proto__ keys) the answer is
 * JSON, a 4xx, and the service keeps answering.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { KEY, ADMIN_KEY, makeApp, sessionsDir, type StoreKind, type TestApp } from '../helpers/app';

const DEPTH = 8000;

for (const kind of ['memory', 'redis'] as StoreKind[]) {
  describe(`hostile requests (${kind} store)`, () => {
    let t: TestApp;
    let dir: string;

    beforeEach(async () => {
      dir = sessionsDir('alpha', 'beta');
      t = await makeApp(kind, { TELEGATE_SESSIONS_DIR: dir, TELEGATE_ADMIN_KEYS: ADMIN_KEY });
      await request(t.app).post('/sync').set('X-API-Key', ADMIN_KEY).expect(200);
    });
    afterEach(async () => {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const post = (path: string) => request(t.app).post(path).set('X-API-Key', KEY);
    /** POST these exact bytes (supertest re-serializes a Buffer sent as JSON). */
    type Answer = Pick<request.Response, 'status' | 'text' | 'body'> & { headers: Record<string, string> };
    const raw = async (path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> => {
      const server = createServer(t.app).listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const { port } = server.address() as AddressInfo;
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'X-API-Key': KEY, ...headers }, body });
        const text = await res.text();
        return { status: res.status, text, headers: { 'content-type': res.headers.get('content-type') ?? '' }, body: JSON.parse(text) as unknown };
      } finally {
        server.close();
      }
    };
    const isJson = (r: Pick<request.Response, 'text' | 'status' | 'headers'>): void => {
      assert.match(String(r.headers['content-type']), /^application\/json/, `${r.status} ${r.text.slice(0, 200)}`);
      assert.doesNotThrow(() => JSON.parse(r.text) as unknown);
      assert.doesNotMatch(r.text, /at [\w.]+ \(|<html|<pre>/i, 'no stack trace, no HTML');
    };
    const nothingLeased = async (): Promise<void> => {
      const s = await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
      assert.equal(s.body.in_use, 0, JSON.stringify(s.body));
      assert.equal(s.body.free, 2, JSON.stringify(s.body));
    };

    it('HEAD /session is 405 (Allow: GET) and leases nothing; HEAD on read-only routes still works', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await request(t.app).head('/session').set('X-API-Key', KEY).expect(405);
        assert.equal(r.headers.allow, 'GET');
      }
      await nothingLeased();
      await request(t.app).head('/status').set('X-API-Key', KEY).expect(200);
      await request(t.app).head('/healthz').expect(200);
      await request(t.app).get('/session').set('X-API-Key', KEY).expect(200);
    });

    it(`a body nested ${DEPTH} deep answers JSON (422), in a field and as the body, closed or not`, async () => {
      const deep = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
      for (const body of [`{"session_id": ${deep}}`, deep, '['.repeat(DEPTH), `{"session_id": ${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}}`]) {
        const r = await post('/release').set('Content-Type', 'application/json').send(body);
        assert.ok([400, 413, 422].includes(r.status), `${r.status} ${r.text.slice(0, 200)}`);
        isJson(r);
      }
      await nothingLeased();
    });

    it('a corrupt gzip or br body is 400 JSON; an unknown encoding or charset is a 4xx JSON', async () => {
      const garbage = Buffer.from('this is not compressed at all, not even a little');
      const json = { 'Content-Type': 'application/json' };
      for (const enc of ['gzip', 'deflate', 'br']) {
        const r = await raw('/release', { ...json, 'Content-Encoding': enc }, garbage);
        assert.equal(r.status, 400, `${enc}: ${r.status} ${r.text}`);
        isJson(r);
        assert.deepEqual(r.body, { detail: 'Bad Request' });
      }
      // A gzip body cut short.
      const cut = await raw('/release', { ...json, 'Content-Encoding': 'gzip' }, gzipSync(Buffer.from('{"session_id": 1}')).subarray(0, 12));
      assert.equal(cut.status, 400, cut.text);
      isJson(cut);
      for (const [header, value] of [
        ['Content-Encoding', 'zstd'],
        ['Content-Encoding', 'gzip, gzip, gzip'],
        ['Content-Type', 'application/json; charset=latin1'],
        ['Content-Type', 'application/json; charset=utf-32'],
      ] as const) {
        const r = await raw('/release', { ...json, [header]: value }, Buffer.from('{"session_id": 1}'));
        // utf-32 is a charset iconv knows: the bytes then decode to garbage JSON (422).
        assert.ok([400, 415, 422].includes(r.status), `${header}: ${value}: ${r.status} ${r.text}`);
        isJson(r);
      }
      // A good gzip body still works (an admin key: a worker key would need the lease token under TELEGATE_ADMIN_KEYS).
      const ok = await raw('/release', { ...json, 'Content-Encoding': 'gzip', 'X-API-Key': ADMIN_KEY }, gzipSync(Buffer.from('{"session_id": 1}')));
      assert.equal(ok.status, 200, ok.text);
    });

    it('huge numbers, __proto__ and constructor keys are validation errors or ignored, never a 500', async () => {
      const bodies = [
        '{"session_id": 1e400}',
        '{"session_id": -1e400}',
        '{"session_id": 123456789012345678901234567890}',
        '{"session_id": 1, "__proto__": {"admin": true, "session_id": 2}}',
        '{"__proto__": {"session_id": 1}}',
        '{"constructor": {"prototype": {"x": 1}}, "session_id": "1"}',
        '{"session_id": "１"}',
        '{"session_id": 1, "lease_token": {"$ne": null}}',
      ];
      for (const body of bodies) {
        const r = await post('/release').set('Content-Type', 'application/json').send(body);
        assert.ok(r.status < 500, `${body}: ${r.status} ${r.text}`);
        isJson(r);
      }
      assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype untouched');
      const w = await post('/floodwait').set('Content-Type', 'application/json').send('{"session_id": 1, "wait_seconds": 1e308}');
      assert.equal(w.status, 422, w.text);
      isJson(w);
      // More form fields than the parser takes: 413, like a body too large (it was a 500).
      const form = Array.from({ length: 200 }, (_, i) => `f${i}=1`).join('&');
      const f = await post('/release').set('Content-Type', 'application/x-www-form-urlencoded').send(form);
      assert.equal(f.status, 413, f.text);
      assert.deepEqual(f.body, { detail: 'Request Entity Too Large' });
      // The process still serves.
      await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
    });
  });
}
