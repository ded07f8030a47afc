/**
 * Retry rules of the transport. A healthy TeleGate cannot be made to answer
 * 5xx or 429 on demand, so these few tests use a scripted stub HTTP server;
 * everything else is tested against a real TeleGate.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError, NoSessionAvailableError, TeleGateClient } from '../../clients/typescript/src';

type Answer = [status: number, body: unknown, headers?: Record<string, string>];

async function withStub(script: Answer[], fn: (url: string, seen: string[]) => Promise<void>): Promise<void> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${String(req.headers['x-api-key'])}`);
      const [status, body, headers] = script.shift() ?? [500, { detail: 'script ran out' }];
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const STATUS = { total: 1, free: 1, in_use: 0, in_floodwait: 0, next_available: null };
const SESSION = { session_id: 1, session_name: 's1', lease_token: 't' };
const client = (url: string): TeleGateClient => new TeleGateClient({ baseUrl: url, apiKey: 'k', retries: 2, backoffMs: 5 });

describe('client: retries (stub server)', () => {
  it('idempotent calls retry 5xx', async () => {
    await withStub([[502, { detail: 'Bad Gateway' }], [500, { detail: 'Internal Server Error' }], [200, STATUS]], async (url, seen) => {
      assert.equal((await client(url).getStatus()).total, 1);
      assert.deepEqual(seen, ['GET /status k', 'GET /status k', 'GET /status k']);
    });
  });

  it('retries are bounded', async () => {
    const unavailable: Answer = [503, { detail: { error: 'store_unavailable' } }, { 'Retry-After': '0' }];
    await withStub([unavailable, unavailable, unavailable, unavailable], async (url, seen) => {
      await assert.rejects(client(url).releaseSession(1), (err: unknown) => err instanceof HttpError && err.status === 503);
      assert.equal(seen.length, 3);
    });
  });

  it('GET /session is not retried after an ambiguous 5xx', async () => {
    await withStub([[502, { detail: 'Bad Gateway' }], [200, SESSION]], async (url, seen) => {
      await assert.rejects(client(url).getSession(), (err: unknown) => err instanceof HttpError && err.status === 502);
      assert.equal(seen.length, 1);
    });
  });

  it('GET /session is retried when nothing changed (429, store_unavailable)', async () => {
    await withStub(
      [
        [429, { detail: 'Too Many Requests' }, { 'Retry-After': '0' }],
        [503, { detail: { error: 'store_unavailable' } }, { 'Retry-After': '0' }],
        [200, SESSION],
      ],
      async (url, seen) => {
        const c = client(url);
        assert.equal((await c.getSession()).sessionId, 1);
        assert.equal(c.leaseToken(1), 't');
        assert.equal(seen.length, 3);
      },
    );
  });

  it('GET /session waits out a recovery grace (store_recovering) like a flood wait, and says so without auto-wait', async () => {
    const recovering: Answer = [503, { detail: { error: 'store_recovering', in_floodwait: 0, next_release_in: 0 } }, { 'Retry-After': '0' }];
    await withStub([recovering, recovering, [200, SESSION]], async (url, seen) => {
      assert.equal((await client(url).getSession({ maxWaitMs: 10_000 })).sessionId, 1);
      assert.equal(seen.length, 3);
    });
    await withStub([[503, { detail: { error: 'store_recovering', in_floodwait: 0, next_release_in: 42 } }, { 'Retry-After': '42' }]], async (url) => {
      await assert.rejects(
        client(url).getSession({ autoWait: false }),
        (err: unknown) => err instanceof NoSessionAvailableError && err.recovering && err.nextReleaseIn === 42 && /recovering/.test(err.message),
      );
    });
  });
});
