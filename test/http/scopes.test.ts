/**
 * Scoped rests over HTTP (issue 12 items 1–3), on both stores: the scope
 * parameter's forms and validation, scope-aware 503 and long-poll, /status.
 */
import assert from 'node:assert/strict';
import request from 'supertest';
import { until } from '../../support/poll';
import { KEY, syncedApp, type StoreKind, type TestApp } from '../helpers/app';

interface Issued {
  session_id: number;
  lease_token: string;
}

for (const kind of ['memory', 'redis'] as StoreKind[]) {
  describe(`HTTP scoped rests (${kind} store)`, () => {
    let t: TestApp;
    beforeEach(async () => (t = await syncedApp(kind, ['alpha', 'beta', 'gamma'])));
    afterEach(() => t.close());

    const get = (path: string) => request(t.app).get(path).set('X-API-Key', KEY);
    const post = (path: string) => request(t.app).post(path).set('X-API-Key', KEY);
    const takeAll = async (): Promise<Issued[]> => {
      const out: Issued[] = [];
      for (let i = 0; i < 3; i++) out.push((await get('/session').expect(200)).body as Issued);
      return out;
    };

    it('POST /floodwait with a scope rests that scope only, case-insensitively; /status counts it', async () => {
      const [a, b, c] = await takeAll();
      const r = await post('/floodwait').send({ session_id: a?.session_id, wait_seconds: 600, scope: 'messages.SendMessage', lease_token: a?.lease_token }).expect(200);
      assert.equal(r.body.scope, 'messages.sendmessage');
      assert.equal(r.body.in_floodwait, true);
      await post('/floodwait').send({ session_id: b?.session_id, wait_seconds: 300, scope: 'messages.sendmessage' }).expect(200);
      await post('/floodwait').send({ session_id: c?.session_id, wait_seconds: 900, scope: 'contacts.resolveUsername' }).expect(200);
      const s = (await get('/status').expect(200)).body as Record<string, unknown>;
      assert.deepEqual([s.total, s.free, s.in_use, s.in_floodwait], [3, 0, 0, 3]);
      assert.deepEqual(s.rests, { 'messages.sendmessage': 2, 'contacts.resolveusername': 1 });

      const unscoped = await get('/session').expect(503);
      assert.equal(unscoped.body.detail.next_release_in, 300);
      const bothForms = [
        '/session?scope=MESSAGES.sendMessage&scope=contacts.resolveUsername',
        '/session?scope=messages.sendmessage,contacts.resolveusername',
      ];
      for (const path of bothForms) {
        const none = await get(path).expect(503);
        assert.equal(none.body.detail.error, 'no_free_session');
        assert.equal(none.body.detail.next_release_in, 300, 'b frees for both scopes first (a: 600 s, c: 900 s)');
        assert.equal(none.headers['retry-after'], '300');
      }
      const other = await get('/session?scope=messages.getHistory').expect(200);
      assert.equal(other.body.session_id, a?.session_id, 'least recently used of the three');
      const onlySend = await get('/session?scope=messages.sendMessage').expect(200);
      assert.equal(onlySend.body.session_id, c?.session_id, 'c rests on another scope only');
    });

    it('a scoped acquire in a JSON body is a list too', async () => {
      const [a] = await takeAll();
      await post('/floodwait').send({ session_id: a?.session_id, wait_seconds: 600, scope: 'x' }).expect(200);
      const r = await request(t.app).get('/session').set('X-API-Key', KEY).send({ scope: ['y'] }).expect(200);
      assert.equal(r.body.session_id, a?.session_id);
    });

    it('422 for a scope that is empty, too long, has other characters, or too many scopes', async () => {
      const bad = await get('/session?scope=ok&scope=bad%20scope').expect(422);
      assert.deepEqual(bad.body.detail[0].loc, ['query', 'scope', 1]);
      assert.equal(bad.body.detail[0].type, 'string_pattern_mismatch');
      assert.equal(bad.body.detail[0].input, 'bad scope');
      assert.equal((await get(`/session?scope=${'x'.repeat(65)}`).expect(422)).body.detail[0].type, 'string_too_long');
      assert.equal((await get('/session?scope=').expect(422)).body.detail[0].type, 'string_too_short');
      assert.equal((await get('/session?scope=a,,b').expect(422)).body.detail[0].type, 'string_too_short');
      const many = Array.from({ length: 17 }, (_, i) => `s${i}`).join(',');
      assert.equal((await get(`/session?scope=${many}`).expect(422)).body.detail[0].type, 'too_long');
      const fw = await post('/floodwait').send({ session_id: 1, wait_seconds: 5, scope: 'a/b' }).expect(422);
      assert.deepEqual(fw.body.detail[0].loc, ['body', 'scope']);
      const fwList = await post('/floodwait').send({ session_id: 1, wait_seconds: 5, scope: ['a'] }).expect(422);
      assert.equal(fwList.body.detail[0].type, 'string_type');
    });

    it('long-poll: a session freed with a scoped rest goes to a waiter that can use it, never to an unscoped one', async () => {
      const [a, b] = await takeAll();
      const unscoped = get('/session?wait=8').then((r) => r);
      const scoped = get('/session?wait=8&scope=messages.getHistory').then((r) => r);
      await until(() => t.pool.waiting === 2, 'both requests to park');
      await post('/floodwait').send({ session_id: a?.session_id, wait_seconds: 600, scope: 'messages.sendMessage' }).expect(200);
      const got = await scoped;
      assert.equal(got.status, 200);
      assert.equal(got.body.session_id, a?.session_id);
      assert.equal(t.pool.waiting, 1, 'the unscoped request still waits');
      await post('/release').send({ session_id: b?.session_id }).expect(200);
      const plain = await unscoped;
      assert.equal(plain.status, 200);
      assert.equal(plain.body.session_id, b?.session_id);
    });

    it('GET /session?tag= issues only sessions carrying every tag, combinable with scope', async () => {
      await t.store.applySync({
        upserts: [
          { name: 'alpha', meta: { tags: ['ru'] } },
          { name: 'beta', meta: { tags: ['premium', 'ru'] } },
        ],
        removes: [],
      });
      assert.equal((await get('/session?tag=PREMIUM&tag=ru').expect(200)).body.session_name, 'beta');
      assert.equal((await get('/session?tag=premium,ru').expect(503)).body.detail.error, 'no_free_session');
      const a = (await get('/session?tag=ru&scope=messages.sendMessage').expect(200)).body as Issued;
      assert.equal((await get('/session?tag=ru').expect(503)).body.detail.error, 'no_free_session');
      await post('/floodwait').send({ session_id: a.session_id, wait_seconds: 600, scope: 'messages.sendMessage' }).expect(200);
      await get('/session?tag=ru&scope=messages.sendMessage').expect(503);
      assert.equal((await get('/session?tag=ru&scope=messages.getHistory').expect(200)).body.session_name, 'alpha');
      assert.equal((await get('/session?tag=a%20b').expect(422)).body.detail[0].loc[1], 'tag');
    });

    it('GET /sessions shows a session resting on a scope as floodwait, with its rests', async () => {
      const [a] = await takeAll();
      await post('/floodwait').send({ session_id: a?.session_id, wait_seconds: 600, scope: 'x' }).expect(200);
      const listed = (await get('/sessions').expect(200)).body.sessions as Array<Record<string, unknown>>;
      const row = listed.find((s) => s.session_id === a?.session_id);
      assert.equal(row?.state, 'floodwait');
      assert.match(String((row?.rests as Record<string, string>).x), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      assert.equal(row?.floodwait_until, (row?.rests as Record<string, string>).x);
    });
  });
}
