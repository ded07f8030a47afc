/**
 * POST /report (issue 12 item 4) over HTTP on both stores: every shared test
 * vector gives the action the table promises, with the documented answer.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { KEY, syncedApp, type StoreKind, type TestApp } from '../helpers/app';

interface Vector {
  error: string;
  method: string | null;
  action: string;
  scope?: string | null;
  seconds?: number;
  health?: string;
}
const doc = JSON.parse(readFileSync(path.resolve(__dirname, '..', 'vectors', 'telegram-errors.json'), 'utf8')) as {
  restricted_rest_seconds: number;
  vectors: Vector[];
};
const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

for (const kind of ['memory', 'redis'] as StoreKind[]) {
  describe(`HTTP POST /report (${kind} store)`, () => {
    let t: TestApp;
    const names = doc.vectors.map((_, i) => `v${String(i).padStart(2, '0')}`);
    beforeEach(async () => (t = await syncedApp(kind, names, { TELEGATE_RESTRICTED_REST_SECONDS: String(doc.restricted_rest_seconds) })));
    afterEach(() => t.close());
    const get = (p: string) => request(t.app).get(p).set('X-API-Key', KEY);
    const post = (p: string) => request(t.app).post(p).set('X-API-Key', KEY);

    it('answers every shared vector with the action of the table', async () => {
      for (const v of doc.vectors) {
        const s = (await get('/session').expect(200)).body as { session_id: number; lease_token: string };
        const body: Record<string, unknown> = { session_id: s.session_id, error: v.error, lease_token: s.lease_token };
        if (v.method !== null) body.method = v.method;
        const r = (await post('/report').send(body).expect(200)).body as Record<string, unknown>;
        const what = `${v.error} ${v.method ?? ''}`;
        assert.deepEqual([r.status, r.session_id, r.action, r.error], ['reported', s.session_id, v.action, v.error], what);
        if (v.action === 'rest') {
          assert.equal(r.scope, v.scope, what);
          assert.match(String(r.until), TIME, what);
          const untilMs = Date.parse(`${String(r.until).replace(' ', 'T')}Z`);
          assert.ok(Math.abs(untilMs - (Date.now() + (v.seconds ?? 0) * 1000)) < 5000, what);
        } else assert.equal('scope' in r || 'until' in r, false, what);
        assert.equal(r.health, v.health, what);
        const row = ((await get('/sessions?limit=1000').expect(200)).body.sessions as Array<Record<string, unknown>>).find((x) => x.session_id === s.session_id);
        const expectedState = v.action === 'rest' ? 'floodwait' : v.action === 'invalidate' ? 'invalidated' : 'in_use';
        assert.equal(row?.state, expectedState, what);
        assert.equal(row?.health, v.health ?? 'ok', what);
        assert.equal((row?.last_error as { error: string }).error, v.error, what);
      }
      const st = (await get('/status').expect(200)).body as { health: Record<string, number>; total: number };
      const count = (h: string) => doc.vectors.filter((v) => v.health === h).length;
      assert.deepEqual(st.health, {
        ok: st.total - count('restricted') - count('logged_out') - count('banned'),
        restricted: count('restricted'),
        logged_out: count('logged_out'),
        banned: count('banned'),
        file_error: 0,
      });
    });

    it('422 for a missing or malformed error name or method; 404 unknown id; 409 foreign token', async () => {
      const missing = await post('/report').send({ session_id: 1 }).expect(422);
      assert.deepEqual(missing.body.detail[0].loc, ['query', 'error']);
      assert.equal((await post('/report').send({ session_id: 1, error: 'FLOOD WAIT' }).expect(422)).body.detail[0].type, 'string_pattern_mismatch');
      assert.equal((await post('/report').send({ session_id: 1, error: 'FLOOD_WAIT_5', method: 'a b' }).expect(422)).body.detail[0].loc[1], 'method');
      assert.deepEqual((await post('/report').send({ session_id: 9999, error: 'FLOOD_WAIT_5' }).expect(404)).body, { detail: 'Session not found' });
      const s = (await get('/session').expect(200)).body as { session_id: number };
      const r = await post('/report').send({ session_id: s.session_id, error: 'AUTH_KEY_UNREGISTERED', lease_token: 'nope' }).expect(409);
      assert.deepEqual(r.body, { detail: { error: 'lease_mismatch', session_id: s.session_id } });
    });

    it("GET /events shows a session's history; GET /sessions filters by health and scope and shows counters", async () => {
      const a = (await get('/session').expect(200)).body as { session_id: number; lease_token: string };
      const b = (await get('/session').expect(200)).body as { session_id: number; lease_token: string };
      await post('/report').send({ session_id: a.session_id, error: 'FLOOD_WAIT_60', method: 'messages.sendMessage' }).expect(200);
      await post('/report').send({ session_id: b.session_id, error: 'PHONE_NUMBER_BANNED' }).expect(200);
      const history = (await get(`/events?session_id=${a.session_id}`).expect(200)).body as { events: Array<Record<string, unknown>>; next_cursor: unknown };
      assert.deepEqual(
        history.events.map((e) => [e.type, e.session_id, e.error ?? null, e.scope ?? null]),
        [
          ['report', a.session_id, 'FLOOD_WAIT_60', 'messages.sendmessage'],
          ['issued', a.session_id, null, null],
        ],
      );
      assert.match(String(history.events[0]?.at), TIME);
      const page = await get('/events?limit=1').expect(200);
      assert.equal(page.body.events.length, 1);
      const older = await get(`/events?limit=10&cursor=${String(page.body.next_cursor)}`).expect(200);
      assert.equal(older.body.events.length, 3);
      const banned = (await get('/sessions?health=banned').expect(200)).body.sessions as Array<Record<string, unknown>>;
      assert.deepEqual(banned.map((s) => s.session_id), [b.session_id]);
      const resting = (await get('/sessions?scope=Messages.SendMessage').expect(200)).body.sessions as Array<Record<string, unknown>>;
      assert.deepEqual(resting.map((s) => s.session_id), [a.session_id]);
      assert.deepEqual(resting[0]?.counters, { issued: 1, rests: 1, rested_seconds: 60, rests_by_scope: { 'messages.sendmessage': 1 } });
      await get('/sessions?health=sick').expect(422);
    });

    it('error names compare case-insensitively; the method becomes a lowercased scope', async () => {
      const s = (await get('/session').expect(200)).body as { session_id: number };
      const r = (await post('/report').query({ session_id: s.session_id, error: 'flood_wait_30', method: 'Messages.SendMessage' }).expect(200)).body;
      assert.deepEqual([r.error, r.action, r.scope], ['FLOOD_WAIT_30', 'rest', 'messages.sendmessage']);
    });
  });
}
