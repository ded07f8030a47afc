/**
 * The TS client's `format` option (client-wide and per call) reaches
 * GET /session?format=, and sessionStringError carries the server's reason.
 * An in-process TeleGate (strings exposed) serving a real Telethon file.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { TeleGateClient } from '../../clients/typescript/src';
import { readSessionFile } from '../../src/sessionfiles';
import { convertSessionString } from '../../src/sessionfiles/convert';
import { KEY, makeApp, type TestApp } from '../helpers/app';
import { makeSessions, tempDir } from '../../support/sessions';

describe('client: session string format', () => {
  const { dir, cleanup } = tempDir('telegate-client-format-');
  let t: TestApp;
  let server: Server;
  let url: string;
  let mtcute: string;

  before(async () => {
    makeSessions(dir, [{ name: 'acct', kind: 'telethon', self_id: 123456789 }]);
    const { meta } = await readSessionFile(path.join(dir, 'acct.session'), { defaultProxy: null });
    const r = convertSessionString(meta.sessionKey!, 'mtcute');
    assert.ok(r.ok);
    mtcute = r.sessionString;
    t = await makeApp('memory', { TELEGATE_EXPOSE_SESSION_STRING: 'true' });
    await t.store.applySync({ upserts: [{ name: 'acct', meta }], removes: [] });
    server = createServer(t.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await t.close();
    cleanup();
  });

  it('asks for the client’s format, or the call’s', async () => {
    const c = new TeleGateClient({ baseUrl: url, apiKey: KEY, format: 'mtcute', autoWait: false });
    const s = await c.getSession();
    assert.equal(s.sessionString, mtcute);
    assert.equal(s.sessionStringError, null);
    await c.releaseSession(s.sessionId);
    // A Telethon file with no api_id anywhere: no Pyrogram string, and the reason.
    const p = await c.getSession({ format: 'pyrogram' });
    assert.equal(p.sessionString, null);
    assert.match(p.sessionStringError ?? '', /api_id/);
    await c.releaseSession(p.sessionId);
  });

  it('withSession passes the format on', async () => {
    const c = new TeleGateClient({ baseUrl: url, apiKey: KEY, autoWait: false });
    const seen = await c.withSession((lease) => lease.sessionString, { format: 'mtcute' });
    assert.equal(seen, mtcute);
  });
});
