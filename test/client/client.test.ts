/**
 * TeleGateClient against a real TeleGate (node dist/main.js): acquire/release,
 * lease tokens, auth errors, auto-wait (long-poll, flood wait, maxWaitMs,
 * hopeless pool), AbortSignal.
 */
import assert from 'node:assert/strict';
import {
  AuthError,
  HttpError,
  LeaseMismatchError,
  NoSessionAvailableError,
  SessionNotFoundError,
  TeleGateClient,
  TeleGateConnectionError,
  type Session,
  type TeleGateClientOptions,
  type WaitInfo,
} from '../../clients/typescript/src';
import { freePort } from '../../support/ports';
import { TeleGateServer } from './server';

describe('client: TeleGateClient against a real server', function () {
  this.timeout(30_000);
  let server: TeleGateServer;
  const client = (o: Partial<TeleGateClientOptions> = {}): TeleGateClient =>
    new TeleGateClient({ baseUrl: server.url, apiKey: server.apiKey, ...o });
  const admin = (o: Partial<TeleGateClientOptions> = {}): TeleGateClient => client({ apiKey: server.adminKey, ...o });
  /** Lease every session with one client. */
  const drain = async (): Promise<{ holder: TeleGateClient; held: Session[] }> => {
    const holder = client({ autoWait: false });
    const held: Session[] = [];
    for (let i = 0; i < server.n; i++) held.push(await holder.getSession());
    return { holder, held };
  };

  before(async () => {
    server = await TeleGateServer.start({ sessions: 2, adminKeys: true });
  });
  after(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    await server.reset();
  });

  describe('the original operations', () => {
    it('leases and releases a session, with typed results', async () => {
      const c = client();
      const s = await c.getSession();
      assert.equal(typeof s.sessionId, 'number');
      assert.ok(server.names.includes(s.sessionName));
      assert.ok(s.leaseToken);
      assert.equal(c.leaseToken(s.sessionId), s.leaseToken);
      assert.equal(s.raw.session_id, s.sessionId);
      const st = await c.getStatus();
      assert.deepEqual([st.total, st.inUse, st.free], [server.n, 1, server.n - 1]);
      assert.equal(await server.stateOf(s.sessionId), 'in_use');
      assert.equal(await c.releaseSession(s.sessionId), true);
      assert.equal(await server.stateOf(s.sessionId), 'free');
      assert.equal(c.leaseToken(s.sessionId), undefined);
    });

    it('release is true for unknown and already free ids', async () => {
      // A worker key (this server has admin keys) must send a lease token: a retry sends the last one.
      const c = client();
      assert.equal(await c.releaseSession(999_999, { leaseToken: 'any' }), true);
      const s = await c.getSession();
      await c.releaseSession(s.sessionId);
      assert.equal(await c.releaseSession(s.sessionId, { leaseToken: s.leaseToken ?? undefined }), true);
      assert.equal(await admin().releaseSession(s.sessionId), true); // admins need none
    });

    it('sends the lease token: a stale worker cannot free the next holder\'s session', async () => {
      const stale = client();
      const other = client({ autoWait: false });
      const s = await stale.getSession();
      await admin().releaseSession(s.sessionId); // an operator frees it
      const taken = [(await other.getSession()).sessionId, (await other.getSession()).sessionId];
      assert.ok(taken.includes(s.sessionId));
      await assert.rejects(stale.releaseSession(s.sessionId), (err: unknown) => {
        assert.ok(err instanceof LeaseMismatchError);
        assert.equal(err.status, 409);
        assert.equal(err.sessionId, s.sessionId);
        return true;
      });
      assert.equal(await server.stateOf(s.sessionId), 'in_use');
    });

    it('reports flood waits, heartbeats, invalidates and restores', async () => {
      const c = admin();
      const s = await c.getSession();
      const hb = await c.heartbeat(s.sessionId);
      assert.ok(hb.leaseExpiresAt >= (s.leaseExpiresAt ?? ''));
      await assert.rejects(c.heartbeat(s.sessionId, { leaseToken: 'stolen' }), LeaseMismatchError);
      await assert.rejects(c.heartbeat(999_999), TypeError);
      const fw = await c.reportFloodwait(s.sessionId, 60);
      assert.equal(fw.inFloodwait, true);
      assert.equal(fw.state, 'floodwait');
      assert.equal(await server.stateOf(s.sessionId), 'floodwait');
      await c.invalidateSession(s.sessionId, 'AUTH_KEY_UNREGISTERED');
      const listed = (await server.sessions()).get(s.sessionId);
      assert.deepEqual([listed?.state, listed?.reason], ['invalidated', 'AUTH_KEY_UNREGISTERED']);
      assert.equal((await c.restoreSession(s.sessionId)).state, 'free');
      await assert.rejects(c.restoreSession(999_999), SessionNotFoundError);
    });
  });

  describe('one request per cycle (next=true)', () => {
    it('releaseAndNext and floodwaitAndNext give back and lease the next session in one request each', async () => {
      const calls: string[] = [];
      const c = client({
        autoWait: false,
        fetch: (url, init) => {
          calls.push(`${init?.method ?? 'GET'} ${new URL(url instanceof Request ? url.url : url).pathname}`);
          return fetch(url, init);
        },
      });
      const a = await c.getSession();
      const b = await c.releaseAndNext(a.sessionId);
      assert.notEqual(b.sessionId, a.sessionId, 'the least recently used other session');
      assert.equal(await server.stateOf(a.sessionId), 'free');
      assert.equal(c.leaseToken(b.sessionId), b.leaseToken, 'the new lease token is kept for the next call');
      const d = await c.floodwaitAndNext(b.sessionId, 60);
      assert.equal(d.sessionId, a.sessionId);
      assert.equal(await server.stateOf(b.sessionId), 'floodwait');
      assert.deepEqual(calls, ['GET /session', 'POST /release', 'POST /floodwait']);
      // nothing free after the give-back: released, and the 503 as from getSession()
      await assert.rejects(c.floodwaitAndNext(d.sessionId, 60), NoSessionAvailableError);
      assert.equal(await server.stateOf(d.sessionId), 'floodwait');
      // a stale token: 409, nothing released and nothing leased
      const stale = client({ autoWait: false });
      await admin().restoreSession(a.sessionId);
      const e = await stale.getSession();
      await assert.rejects(c.releaseAndNext(e.sessionId, { leaseToken: 'stale' }), LeaseMismatchError);
      assert.equal(await server.stateOf(e.sessionId), 'in_use');
    });

    it('with auto-wait, waits for the next session once the give-back found none free', async () => {
      const { holder, held } = await drain();
      let waiting!: () => void;
      const saidWaiting = new Promise<void>((r) => (waiting = r));
      const c = client({ maxWaitMs: 20_000, onWait: () => waiting() });
      const pending = c.floodwaitAndNext(held[0]!.sessionId, 600, { leaseToken: held[0]!.leaseToken ?? undefined });
      await saidWaiting;
      assert.equal(await server.stateOf(held[0]!.sessionId), 'floodwait', 'the flood wait is set before the wait');
      await holder.releaseSession(held[1]!.sessionId);
      assert.equal((await pending).sessionId, held[1]!.sessionId);
    });
  });

  describe('authentication', () => {
    it('401 without a key, 403 with an unknown one, on every call', async () => {
      for (const [apiKey, status, detail] of [
        ['', 401, 'API key required'],
        ['wrong', 403, 'Invalid API key'],
      ] as const) {
        const c = client({ apiKey });
        for (const call of [() => c.getSession(), () => c.getStatus(), () => c.releaseSession(1)]) {
          await assert.rejects(call(), (err: unknown) => {
            assert.ok(err instanceof AuthError, String(err));
            assert.equal(err.status, status);
            assert.equal(err.detail, detail);
            return true;
          });
        }
      }
    });

    it('403 for an admin-only endpoint with a worker key', async () => {
      await admin().invalidateSession(1);
      await assert.rejects(client().restoreSession(1), (err: unknown) => err instanceof AuthError && err.status === 403);
      assert.equal(await server.stateOf(1), 'invalidated');
    });

    it('a worker key invalidates only a session it holds, with its lease token', async () => {
      const c = client();
      await assert.rejects(c.invalidateSession(1), (err: unknown) => err instanceof HttpError && err.status === 422);
      const s = await c.getSession();
      await c.invalidateSession(s.sessionId, 'USER_DEACTIVATED_BAN');
      assert.equal(await server.stateOf(s.sessionId), 'invalidated');
    });
  });

  describe('auto-wait', () => {
    it('without autoWait, a 503 throws at once with the server\'s numbers', async () => {
      const { holder, held } = await drain();
      await holder.reportFloodwait(held[0]!.sessionId, 120);
      const started = Date.now();
      await assert.rejects(client({ autoWait: false }).getSession(), (err: unknown) => {
        assert.ok(err instanceof NoSessionAvailableError);
        assert.equal(err.waitingCount, 1);
        assert.ok(err.nextReleaseIn !== null && err.nextReleaseIn >= 118 && err.nextReleaseIn <= 120, String(err.nextReleaseIn));
        assert.equal(err.inUse, server.n - 1);
        assert.match(err.message, /1 in flood wait/);
        return true;
      });
      assert.ok(Date.now() - started < 2000);
    });

    it('is served by a release from another client, through the long-poll', async () => {
      const { holder, held } = await drain();
      let waiting!: () => void;
      const saidWaiting = new Promise<void>((r) => (waiting = r));
      const infos: WaitInfo[] = [];
      const pending = client({
        maxWaitMs: 20_000,
        onWait: (i) => {
          infos.push(i);
          waiting();
        },
      }).getSession();
      await saidWaiting;
      const releasedAt = Date.now();
      await holder.releaseSession(held[1]!.sessionId);
      const s = await pending;
      assert.equal(s.sessionId, held[1]!.sessionId);
      assert.ok(Date.now() - releasedAt < 3000, 'served as soon as released');
      assert.deepEqual([infos[0]?.inUse, infos[0]?.nextReleaseIn], [server.n, null]);
    });

    it('waits out a short flood wait (with and without long-poll)', async () => {
      for (const longPoll of [true, false]) {
        await server.reset();
        const { holder, held } = await drain();
        await holder.reportFloodwait(held[0]!.sessionId, 1);
        const started = Date.now();
        const s = await client({ longPoll, maxWaitMs: 10_000 }).getSession();
        assert.equal(s.sessionId, held[0]!.sessionId);
        assert.ok(Date.now() - started < 5000);
      }
    });

    it('never waits past maxWaitMs', async () => {
      await drain();
      for (const longPoll of [true, false]) {
        const started = Date.now();
        await assert.rejects(client({ maxWaitMs: 1500, longPoll }).getSession(), NoSessionAvailableError);
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 1300 && elapsed < 3000, `longPoll=${longPoll}: ${elapsed} ms`);
      }
      const started = Date.now();
      await assert.rejects(client().getSession({ maxWaitMs: 0 }), NoSessionAvailableError);
      assert.ok(Date.now() - started < 1000);
    });

    it('throws at once when nothing can ever become free', async () => {
      const a = admin({ maxWaitMs: 30_000 });
      for (const id of (await server.sessions()).keys()) await a.invalidateSession(id, 'test');
      const started = Date.now();
      await assert.rejects(a.getSession(), (err: unknown) => {
        assert.ok(err instanceof NoSessionAvailableError);
        assert.deepEqual([err.inUse, err.nextReleaseIn, err.waitingCount], [0, null, server.n]);
        return true;
      });
      assert.ok(Date.now() - started < 1500);
    });

    it('an AbortSignal stops the wait with its reason', async () => {
      await drain();
      const ac = new AbortController();
      const reason = new Error('shutting down');
      const pending = client({ onWait: () => ac.abort(reason) }).getSession({ signal: ac.signal });
      await assert.rejects(pending, (err: unknown) => err === reason);
    });
  });

  it('an unreachable server is a TeleGateConnectionError after the retries', async () => {
    const c = new TeleGateClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, apiKey: 'k', retries: 2, backoffMs: 10 });
    await assert.rejects(c.getStatus(), TeleGateConnectionError);
    await assert.rejects(c.getSession(), TeleGateConnectionError);
  });
});
