/**
 * GET /session?format=: the string in the asked library's format, made from
 * the session key sync stored (on both stores: the key crosses Redis as JSON);
 * session_string_error when it cannot be made or strings are not exposed; an
 * unknown format is a 422 in pydantic's enum shape. The formats themselves
 * are checked against the libraries in test/sessionfiles/convert.test.ts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import request from 'supertest';
import { readSessionFile } from '../../src/sessionfiles';
import { convertSessionString } from '../../src/sessionfiles/convert';
import type { SessionMeta } from '../../src/pool/types';
import { makeSessions, tempDir } from '../../support/sessions';
import { KEY, makeApp, type StoreKind } from '../helpers/app';

type Json = Record<string, unknown>;

for (const kind of ['memory', 'redis'] as const satisfies readonly StoreKind[]) {
  describe(`GET /session?format= (${kind} store)`, () => {
    const { dir, cleanup } = tempDir('telegate-format-');
    let meta: SessionMeta;

    before(async () => {
      // A Telethon file without api_id anywhere: telethon/gramjs/mtcute can be made, pyrogram cannot.
      makeSessions(dir, [{ name: 'acct', kind: 'telethon', self_id: 123456789 }]);
      meta = (await readSessionFile(path.join(dir, 'acct.session'), { defaultProxy: null })).meta;
    });
    after(cleanup);

    async function leased(env: Record<string, string>, query: string, stored: SessionMeta = meta): Promise<{ status: number; body: Json }> {
      const t = await makeApp(kind, env);
      try {
        await t.store.applySync({ upserts: [{ name: 'acct', meta: stored }], removes: [] });
        const r = await request(t.app).get(`/session${query}`).set('X-API-Key', KEY);
        return { status: r.status, body: r.body as Json };
      } finally {
        await t.close();
      }
    }

    const exposed = { TELEGATE_EXPOSE_SESSION_STRING: 'true' };

    it('gives the string in the asked format; without format, the file’s own as before', async () => {
      for (const format of ['telethon', 'gramjs', 'mtcute'] as const) {
        const { status, body } = await leased(exposed, `?format=${format}`);
        assert.equal(status, 200);
        const want = convertSessionString(meta.sessionKey!, format);
        assert.ok(want.ok);
        assert.equal(body.session_string, want.sessionString, format);
        assert.equal(body.session_string_error, undefined);
      }
      const plain = await leased(exposed, '');
      assert.equal(plain.body.session_string, meta.sessionString);
      assert.equal(plain.body.session_key, undefined, 'the key itself is never given');
    });

    it('a field the format needs is unknown: no string, session_string_error naming it', async () => {
      const { status, body } = await leased(exposed, '?format=pyrogram');
      assert.equal(status, 200);
      assert.equal(body.session_string, undefined);
      assert.match(String(body.session_string_error), /api_id/);
    });

    it('strings not exposed: format is accepted, no string, and the error says why', async () => {
      const { status, body } = await leased({}, '?format=telethon');
      assert.equal(status, 200);
      assert.equal(body.session_string, undefined);
      assert.match(String(body.session_string_error), /TELEGATE_EXPOSE_SESSION_STRING/);
      assert.equal((await leased({}, '')).body.session_string_error, undefined, 'no format: no error field, as before');
    });

    it('a session stored without a key (before this version) says so', async () => {
      const { sessionKey: _k, ...old } = meta;
      const { body } = await leased(exposed, '?format=telethon', old);
      assert.equal(body.session_string, undefined);
      assert.match(String(body.session_string_error), /next sync/);
    });

    it('an unknown format is a 422 in the enum shape', async () => {
      const { status, body } = await leased(exposed, '?format=tdata');
      assert.equal(status, 422);
      assert.deepEqual(body.detail, [
        {
          type: 'enum',
          loc: ['query', 'format'],
          msg: "Input should be 'telethon', 'pyrogram', 'gramjs' or 'mtcute'",
          input: 'tdata',
          ctx: { expected: "'telethon', 'pyrogram', 'gramjs' or 'mtcute'" },
        },
      ]);
    });
  });
}
