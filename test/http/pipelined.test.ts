/**
 * HTTP/1.1 pipelining: requests sent back to back on one connection. Node
 * answers them in order, so a later request's response waits, with no socket,
 * behind the first one; when the connection dies, Node never closes such a
 * response. The client is gone all the same: its long-poll must stop (no
 * session leased for nobody), a lease already answered into that unwritten
 * response goes back, and the request still gets its one log line.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import request from 'supertest';
import { createLogger } from '../../src/log';
import { until } from '../../support/poll';
import { KEY, makeApp, sessionsDir, type StoreKind, type TestApp } from '../helpers/app';

for (const kind of ['memory', 'redis'] as StoreKind[]) {
  describe(`pipelined requests on a connection that dies (${kind} store)`, () => {
    let t: TestApp;
    let server: Server;
    let dir: string;
    const lines: string[] = [];

    beforeEach(async () => {
      lines.length = 0;
      const logger = createLogger('info', { write: (l: string) => void lines.push(l) });
      dir = sessionsDir('alpha');
      t = await makeApp(kind, { TELEGATE_SESSIONS_DIR: dir }, undefined, { logger });
      await t.store.applySync({ upserts: [{ name: 'alpha', meta: { proxy: null } }], removes: [] });
      server = createServer(t.app).listen(0, '127.0.0.1');
      await once(server, 'listening');
    });
    afterEach(async () => {
      server.close();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const poll = (query: string): string => `GET /session?${query} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\n\r\n`;
    const status = async (): Promise<{ free: number; in_use: number }> =>
      (await request(t.app).get('/status').set('X-API-Key', KEY).expect(200)).body as { free: number; in_use: number };
    const connections = (): Promise<number> => new Promise((resolve) => server.getConnections((_e, n) => resolve(n)));

    it('a long-poll queued behind another stops when the client leaves: nothing is leased for nobody, one log line each', async () => {
      const held = (await request(t.app).get('/session').set('X-API-Key', KEY).expect(200)).body as { session_id: number; lease_token: string };
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      // The first waits for a tag no session has; the second, queued behind it, waits for any session.
      socket.write(poll('wait=60&tag=nope') + poll('wait=60'));
      await until(() => t.pool.waiting === 2, 'both requests to park');
      socket.destroy();
      await until(async () => (await connections()) === 0, 'the server to see the client leave', 15_000);
      await until(() => t.pool.waiting === 0, 'both long-polls to stop', 15_000);
      await request(t.app).post('/release').set('X-API-Key', KEY).send({ session_id: held.session_id, lease_token: held.lease_token }).expect(200);
      const after = await status();
      assert.deepEqual([after.free, after.in_use], [1, 0], 'nothing is held for a client that left');
      // The test's own GET /session, then the two pipelined ones.
      const sessionLines = lines.filter((l) => l.includes('request completed') && l.includes('"path":"/session"'));
      assert.equal(sessionLines.length, 3, `one log line per request:\n${lines.join('')}`);
      // The two that left: 499 as in the metrics (not the 200 their unwritten responses held), a warning, not an error.
      const left = sessionLines.map((l) => JSON.parse(l) as { level: string; res: { status: number } }).filter((l) => l.res.status !== 200);
      assert.deepEqual(
        left.map((l) => [l.res.status, l.level]),
        [
          [499, 'warn'],
          [499, 'warn'],
        ],
      );
    });

    it('a lease answered into a queued response goes back when the connection dies before it is written', async () => {
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      // The first parks (no session has the tag); the second leases alpha at once, its answer queued behind the first.
      socket.write(poll('wait=60&tag=nope') + `GET /session HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\n\r\n`);
      await until(async () => (await status()).in_use === 1, 'the queued request to lease alpha');
      socket.destroy();
      await until(async () => (await connections()) === 0, 'the server to see the client leave', 15_000);
      await until(async () => (await status()).free === 1, 'the undelivered lease to go back', 15_000);
      const after = await status();
      assert.deepEqual([after.free, after.in_use], [1, 0], 'nothing is held for a client that left');
    });

    it('many requests queued on one connection add one close listener to it, not one each', async () => {
      const warnings: Error[] = [];
      const onWarning = (w: Error): void => void warnings.push(w);
      process.on('warning', onWarning);
      let seen = 0;
      server.on('request', () => seen++);
      try {
        const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        socket.write(poll('wait=60&tag=nope') + `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(30));
        await until(() => t.pool.waiting === 1 && seen === 31, 'the first request to park and the server to read the 30 behind it');
        socket.destroy();
        await until(async () => (await connections()) === 0, 'the server to see the client leave', 15_000);
        await until(() => lines.filter((l) => l.includes('request completed')).length === 31, 'every request to end', 15_000);
        assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
      } finally {
        process.off('warning', onWarning);
      }
    });
  });
}
