/**
 * withSession() against a real TeleGate: release, GramJS-shaped error
 * reporting, heartbeats, lost leases.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseLostError, LeaseMismatchError, NoSessionAvailableError, TeleGateClient, telegramErrorOf, type ActiveLease, type TeleGateClientOptions } from '../../clients/typescript/src';
import { FloodWaitError, RPCError, VECTORS, gramjsError } from './fakes';
import { until } from '../../support/poll';
import { TeleGateServer } from './server';

function connect(server: TeleGateServer, o: Partial<TeleGateClientOptions> = {}): TeleGateClient {
  return new TeleGateClient({ baseUrl: server.url, apiKey: server.apiKey, ...o });
}

describe('client: withSession()', function () {
  this.timeout(30_000);

  describe('reporting', () => {
    let server: TeleGateServer;
    const client = (o: Partial<TeleGateClientOptions> = {}): TeleGateClient => connect(server, o);
    const admin = (o: Partial<TeleGateClientOptions> = {}): TeleGateClient => client({ apiKey: server.adminKey, ...o });

    before(async () => {
      server = await TeleGateServer.start({ sessions: 2, adminKeys: true });
    });
    after(async () => {
      await server?.stop();
    });
    beforeEach(async () => {
      await server.reset();
    });

    /** Throw `error` inside withSession; it must come back out unchanged. Returns the lease. */
    async function runThrowing(c: TeleGateClient, error: unknown): Promise<ActiveLease> {
      let lease: ActiveLease | undefined;
      await assert.rejects(
        c.withSession(async (s) => {
          lease = s;
          assert.equal(await server.stateOf(s.sessionId), 'in_use');
          throw error;
        }),
        (err: unknown) => err === error,
      );
      assert.ok(lease);
      return lease;
    }

    it('returns the callback\'s value and releases', async () => {
      const c = client();
      let seen: ActiveLease | undefined;
      const value = await c.withSession(async (s) => {
        seen = s;
        assert.equal((await c.getStatus()).inUse, 1);
        return 42;
      });
      assert.equal(value, 42);
      assert.ok(seen?.ended);
      assert.equal(seen.leaseLost, false);
      assert.equal(await server.stateOf(seen.sessionId), 'free');
    });

    it('releases and rethrows other errors', async () => {
      const s = await runThrowing(client(), new TypeError('not telegram'));
      assert.equal(s.reported, null);
      assert.equal(await server.stateOf(s.sessionId), 'free');
    });

    it('sends every shared vector to /report by name and method, and the server\'s table decides', async () => {
      for (const v of VECTORS) {
        const s = await runThrowing(client(), gramjsError(v));
        const error = telegramErrorOf(gramjsError(v))?.error;
        assert.deepEqual(s.reported, { kind: 'report', error, method: v.method, action: v.action }, v.error);
        const listed = (await server.sessions()).get(s.sessionId);
        const expected = v.action === 'rest' ? 'floodwait' : v.action === 'invalidate' ? 'invalidated' : 'free';
        assert.equal(listed?.state, expected, v.error);
        if (v.action === 'rest' && v.scope !== null) assert.ok(Object.keys(listed?.rests ?? {}).includes(v.scope ?? ''), v.error);
        assert.equal((await server.status()).in_use, 0);
        await server.reset();
      }
    });

    it('a wrapped GramJS error and a plain "<code>: <NAME>" message are reported too', async () => {
      for (const [err, name] of [
        [new Error('job failed', { cause: new FloodWaitError({ capture: 65, request: { className: 'messages.SendMessage' } }) }), 'FLOOD_WAIT_65'],
        [new Error('420: FLOOD_WAIT_70 (caused by messages.SendMessage)'), 'FLOOD_WAIT_70'],
      ] as const) {
        const s = await runThrowing(client(), err);
        assert.deepEqual(s.reported, { kind: 'report', error: name, method: 'messages.SendMessage', action: 'rest' });
        assert.equal(await server.stateOf(s.sessionId), 'floodwait');
        await server.reset();
      }
    });

    it('a worker key reports the dead session it holds (its lease token proves it)', async () => {
      const warnings: string[] = [];
      const s = await runThrowing(client({ onWarning: (m) => warnings.push(m) }), new RPCError('AUTH_KEY_UNREGISTERED', undefined, 401));
      assert.deepEqual(s.reported, { kind: 'report', error: 'AUTH_KEY_UNREGISTERED', method: null, action: 'invalidate' });
      assert.equal(s.ended, true);
      assert.equal(await server.stateOf(s.sessionId), 'invalidated');
      assert.deepEqual(warnings, []);
    });

    it('lease.report(name) in one line: the server decides, and the session is not released afterwards', async () => {
      const { c, calls } = recorded({});
      const r = await c.withSession((s) => s.report('AUTH_KEY_UNREGISTERED'));
      assert.deepEqual([r.action, r.health], ['invalidate', 'logged_out']);
      assert.equal(await server.stateOf(r.sessionId), 'invalidated');
      assert.deepEqual(calls, ['GET /session', 'POST /report']);
    });

    it('withSession({scope}) is issued only a session not resting on the scope', async () => {
      const first = await runThrowing(client(), new FloodWaitError({ capture: 600, request: { className: 'contacts.ResolveUsername' } }));
      const other = await client().withSession((s) => s.sessionId, { scope: 'contacts.resolveUsername' });
      assert.notEqual(other, first.sessionId);
      const same = await client().withSession((s) => s.sessionId, { scope: ['messages.sendMessage'] });
      assert.ok([first.sessionId, other].includes(same));
    });

    /** A client whose requests are recorded as `METHOD /path`. */
    function recorded(o: Partial<TeleGateClientOptions>): { c: TeleGateClient; calls: string[] } {
      const calls: string[] = [];
      const spy: typeof fetch = (input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${new URL(input instanceof Request ? input.url : String(input)).pathname}`);
        return fetch(input, init);
      };
      return { c: connect(server, { ...o, fetch: spy }), calls };
    }

    it('a 409 heartbeat aborts lease.signal with a LeaseLostError, withSession rejects with it, and nothing is released with the stale token', async () => {
      const thief = client({ autoWait: false });
      const warnings: string[] = [];
      const { c, calls } = recorded({ heartbeatIntervalMs: 200, onWarning: (m) => warnings.push(m) });
      let lease: ActiveLease | undefined;
      await assert.rejects(
        c.withSession(async (s) => {
          lease = s;
          await admin().releaseSession(s.sessionId); // an operator frees it ...
          const taken = [(await thief.getSession()).sessionId, (await thief.getSession()).sessionId]; // ... someone takes it
          assert.ok(taken.includes(s.sessionId));
          await sleep(60_000, undefined, { signal: s.signal }); // the work, stopped by the lost lease
        }),
        (err: unknown) => err instanceof LeaseLostError && err === lease?.signal.reason && err.cause instanceof LeaseMismatchError,
      );
      assert.ok(lease?.leaseLost && lease.ended);
      assert.match(warnings.join('\n'), /lease lost/);
      assert.deepEqual(calls.filter((call) => call.startsWith('POST /release')), [], 'no release with the stale token');
      assert.equal(await server.stateOf(lease.sessionId), 'in_use'); // the thief's lease was not freed
    });

    it('an admin /invalidate of the held session: the next heartbeat loses the lease, and withSession rejects even if the callback returns', async () => {
      const { c, calls } = recorded({ heartbeatIntervalMs: 200 });
      let lease: ActiveLease | undefined;
      await assert.rejects(
        c.withSession(async (s) => {
          lease = s;
          await admin().invalidateSession(s.sessionId, 'operator');
          await until(() => s.signal.aborted, 'the lease lost after /invalidate', 5000);
          return 'done without looking at the signal';
        }),
        LeaseLostError,
      );
      assert.ok(lease?.leaseLost);
      assert.deepEqual(calls.filter((call) => call.startsWith('POST /release')), []);
      assert.equal(await server.stateOf(lease.sessionId), 'invalidated');
    });

    it('waits for a session (auto-wait) and honours maxWaitMs', async () => {
      const holder = client({ autoWait: false });
      const held = [await holder.getSession(), await holder.getSession()];
      await holder.reportFloodwait(held[0]!.sessionId, 1);
      const id = await client({ maxWaitMs: 10_000 }).withSession((s) => s.sessionId);
      assert.equal(id, held[0]!.sessionId);
      await holder.getSession(); // all in use again
      let entered = false;
      await assert.rejects(
        client().withSession(
          () => {
            entered = true;
          },
          { maxWaitMs: 500 },
        ),
        NoSessionAvailableError,
      );
      assert.equal(entered, false);
    });
  });

  describe('heartbeats (2 s leases)', () => {
    let server: TeleGateServer;

    before(async () => {
      server = await TeleGateServer.start({ sessions: 1, leaseTtlSeconds: 2 });
    });
    after(async () => {
      await server?.stop();
    });
    beforeEach(async () => {
      await server.reset();
    });

    it('keep the lease past its TTL while the callback runs', async () => {
      const other = connect(server, { autoWait: false });
      const lease = await connect(server, { heartbeatIntervalMs: 400 }).withSession(async (s) => {
        const first = s.leaseExpiresAt;
        const until = Date.now() + 3500; // works for longer than the 2 s lease
        while (Date.now() < until) {
          await assert.rejects(other.getSession(), NoSessionAvailableError);
          await new Promise((r) => setTimeout(r, 250));
        }
        assert.equal(s.leaseLost, false);
        assert.ok((s.leaseExpiresAt ?? '') > (first ?? ''));
        return s;
      });
      assert.equal(await server.stateOf(lease.sessionId), 'free');
    });

    it('the default interval is shortened for short leases', async () => {
      await connect(server, { heartbeatIntervalMs: 60_000 }).withSession(async (s) => {
        const first = s.leaseExpiresAt;
        await until(() => s.leaseExpiresAt !== first, 'a heartbeat within a third of the 2 s lease', 5000);
      });
    });

    it('an expired lease is lost: the stale release throws LeaseMismatchError and frees nothing', async () => {
      const stale = connect(server);
      const s = await stale.getSession(); // no heartbeats: the reaper frees it after 2 s
      const taken = await connect(server, { maxWaitMs: 10_000 }).getSession();
      assert.equal(taken.sessionId, s.sessionId);
      await assert.rejects(stale.releaseSession(s.sessionId), LeaseMismatchError);
      assert.equal(await server.stateOf(s.sessionId), 'in_use');
    });
  });
});
