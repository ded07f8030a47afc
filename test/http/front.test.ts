/**
 * The front layer on Node's own request and response (app.ts, exchange.ts)
 * answers what the Express front answered, for requests a client library
 * would never send: the exact bytes go over a raw socket, so the request
 * line, the headers and the body are what the test says, nothing rewritten.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createLogger } from '../../src/log';
import { until } from '../../support/poll';
import { KEY, makeApp, syncedApp, type TestApp } from '../helpers/app';

/** One answer as it came over the wire. */
interface RawAnswer {
  status: number;
  /** Header names lower-cased, in the order sent. */
  headers: Array<[string, string]>;
  body: string;
}

/** Send `bytes` on a fresh connection and read until the server closes it (every request here says Connection: close). */
async function rawRequest(server: Server, bytes: string | Buffer): Promise<RawAnswer> {
  const { port } = server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.write(bytes);
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('utf8');
  const [head = '', ...rest] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = lines.map((l): [string, string] => {
    const at = l.indexOf(':');
    return [l.slice(0, at).toLowerCase(), l.slice(at + 1).trim()];
  });
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
}

const header = (a: RawAnswer, name: string): string | undefined => a.headers.find(([n]) => n === name)?.[1];

describe('front layer: raw requests', () => {
  let t: TestApp;
  let server: Server;

  beforeEach(async () => {
    t = await syncedApp('memory', ['alpha']);
    server = createServer(t.app).listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterEach(async () => {
    server.close();
    await t.close();
  });

  it('an absolute-form target url.parse cannot parse (GET http://[x/status) is 404 JSON, and the process keeps serving', async () => {
    for (const target of ['http://[x/status', 'http://[::1/status?session_id=1']) {
      const a = await rawRequest(server, `GET ${target} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nConnection: close\r\n\r\n`);
      assert.equal(a.status, 404, `${target}: ${a.body}`);
      assert.equal(header(a, 'content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(JSON.parse(a.body), { detail: 'Not Found' });
    }
    const ok = await rawRequest(server, `GET /status HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nConnection: close\r\n\r\n`);
    assert.equal(ok.status, 200, ok.body);
  });

  it('a throw the front layer did not expect is a 500 JSON answer and a log line, never the end of the process', async () => {
    const lines: string[] = [];
    const logged = await makeApp('memory', {}, undefined, { logger: createLogger('info', { write: (l: string) => void lines.push(l) }) });
    // The first header the front sets throws (a stand-in for any bug on its synchronous path).
    const faulty = createServer((req, res) => {
      const setHeader = res.setHeader.bind(res);
      let calls = 0;
      res.setHeader = (name: string, value: number | string | readonly string[]) => {
        if (calls++ === 0) throw new Error('boom in the front');
        return setHeader(name, value);
      };
      logged.app(req, res);
    }).listen(0, '127.0.0.1');
    try {
      await once(faulty, 'listening');
      const a = await rawRequest(faulty, `GET /status HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nConnection: close\r\n\r\n`);
      assert.equal(a.status, 500, a.body);
      assert.deepEqual(JSON.parse(a.body), { detail: 'Internal Server Error' });
      assert.equal(header(a, 'x-content-type-options'), 'nosniff');
      await until(() => lines.some((l) => l.includes('unhandled error in the front layer') && l.includes('boom in the front')), 'the error line', 5000);
    } finally {
      faulty.close();
      await logged.close();
    }
  });

  // Two answers that differ from the Express front on purpose, pinned so they stay.
  it('an absolute-form target with no path (GET http://) is 404 JSON (Express answered its finalhandler\'s HTML)', async () => {
    const a = await rawRequest(server, `GET http:// HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nConnection: close\r\n\r\n`);
    assert.equal(a.status, 404, a.body);
    assert.equal(header(a, 'content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(a.body), { detail: 'Not Found' });
  });

  it('GET /session with If-None-Match: * answers the lease (Express answered 304 without a body, and the lease was lost)', async () => {
    const a = await rawRequest(server, `GET /session HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n`);
    assert.equal(a.status, 200, a.body);
    assert.equal((JSON.parse(a.body) as { session_name: string }).session_name, 'alpha');
  });

  describe('plain JSON bodies (body.ts) answer exactly as body-parser does', () => {
    /** POST these exact body bytes to `path` with this Content-Type. */
    const post = (path: string, type: string, body: Buffer): Promise<RawAnswer> =>
      rawRequest(
        server,
        Buffer.concat([
          Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`),
          body,
        ]),
      );

    it('every body, valid or not, gets the same status and JSON on both paths', async () => {
      const deep = '['.repeat(5000) + ']'.repeat(5000);
      const bodies: Buffer[] = [
        Buffer.from('{"session_id": 1}'),
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"session_id": 1}')]), // BOM
        Buffer.from(''),
        Buffer.from('   '),
        Buffer.from('{bad'),
        Buffer.from('{"session_id": 1,}'),
        Buffer.from('null'),
        Buffer.from('[1]'),
        Buffer.from('"x"'),
        Buffer.from('123'),
        Buffer.from(deep),
        Buffer.from('{"session_id": "abc"}'),
        Buffer.from('{"session_id": 1, "lease_token": "\\u00e9\\ud800"}'),
        Buffer.concat([Buffer.from('{"session_id": 1, "reason": "'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), // not UTF-8
        Buffer.from(`{"session_id": 1, "pad": "${'x'.repeat(16384 - 35)}"}`), // at the limit
        Buffer.from(`{"session_id": 1, "pad": "${'x'.repeat(16384)}"}`), // over it: body-parser's 413 on both
      ];
      // `application/json` takes body.ts; the same media type spelled otherwise takes body-parser.
      for (const path of ['/release', '/invalidate']) {
        for (const body of bodies) {
          const fast = await post(path, 'application/json', body);
          const parser = await post(path, 'application/json; charset=UTF-8', body);
          const what = `${path} ${body.toString('utf8').slice(0, 40)}`;
          assert.equal(fast.status, parser.status, what);
          assert.ok(fast.body.startsWith('{'), `${what}: ${fast.status} ${fast.body.slice(0, 200)}`);
          assert.deepEqual(JSON.parse(fast.body), JSON.parse(parser.body), what);
          assert.equal(header(fast, 'content-type'), header(parser, 'content-type'), what);
        }
      }
      // And the answers are the contract's, not merely equal.
      assert.equal((await post('/release', 'application/json', Buffer.from('{"session_id": 1}'))).status, 200);
      const bad = JSON.parse((await post('/release', 'application/json', Buffer.from('{bad'))).body) as { detail: Array<{ type: string; loc: unknown[] }> };
      assert.deepEqual([bad.detail[0]?.type, bad.detail[0]?.loc], ['json_invalid', ['body', 1]]);
      assert.equal((await post('/release', 'application/json', Buffer.from(`{"pad": "${'x'.repeat(16384)}"}`))).status, 413);
    });

    it('a client that leaves mid-body gets nothing leased and the process keeps serving', async () => {
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(`POST /release HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"session_id": 1, "next": tr`);
      socket.destroy();
      await until(async () => (await t.pool.status()).free === 1, 'the pool as it was', 5000);
      const ok = await rawRequest(server, `GET /status HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nConnection: close\r\n\r\n`);
      assert.equal(ok.status, 200, ok.body);
      assert.deepEqual([(JSON.parse(ok.body) as { in_use: number }).in_use], [0]);
    });

    it('a request whose client left before its body was read does what body-parser does: the handler runs without a body', async () => {
      // The front reaches the body after an await (the rate limiter's Redis round trip); the client sends its whole
      // request and leaves meanwhile, and Node destroys the request with its body unread. Here the wait is the server
      // handing the request to the app only once the client is gone.
      const late = createServer((req, res) => {
        req.once('close', () => t.app(req, res));
      }).listen(0, '127.0.0.1');
      try {
        await once(late, 'listening');
        const { port } = late.address() as AddressInfo;
        // Both spellings: body.ts (`application/json`) and body-parser (the same type with `charset=UTF-8`).
        for (const type of ['application/json; charset=UTF-8', 'application/json']) {
          await t.pool.acquire({ waitMs: 0 });
          assert.equal((await t.pool.status()).inUse, 1, type);
          const socket = connect(port, '127.0.0.1');
          await once(socket, 'connect');
          // A worker that sends its release (parameters in the query) and exits without waiting for the answer.
          socket.end(`POST /release?session_id=1&next=true HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Type: ${type}\r\nContent-Length: 2\r\n\r\n{}`);
          // The release is done, and the session next=true took for nobody goes back.
          await until(async () => (await t.pool.status()).free === 1, `${type}: the release done and nothing leased`, 5000);
        }
      } finally {
        late.close();
      }
    });
  });
});

describe('front layer: the pages', () => {
  it('an asset path that does not percent-decode (GET /docs/assets/%) is 404 JSON like /ui/%, not a 500 logged as an error', async () => {
    const lines: string[] = [];
    const t = await makeApp('memory', {}, undefined, { logger: createLogger('info', { write: (l: string) => void lines.push(l) }) });
    const server = createServer(t.app).listen(0, '127.0.0.1');
    try {
      await once(server, 'listening');
      for (const target of ['/docs/assets/%', '/docs/assets/%E0%A4%A', '/ui/%']) {
        const a = await rawRequest(server, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(a.status, 404, `${target}: ${a.body}`);
        assert.equal(header(a, 'content-type'), 'application/json; charset=utf-8');
        assert.deepEqual(JSON.parse(a.body), { detail: 'Not Found' });
      }
      await until(() => lines.filter((l) => l.includes('request completed')).length === 3, 'the three request log lines', 15_000);
      assert.deepEqual(
        lines.filter((l) => (JSON.parse(l) as { level: string }).level === 'error'),
        [],
      );
    } finally {
      server.close();
      await t.close();
    }
  });
});
