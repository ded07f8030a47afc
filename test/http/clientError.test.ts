/**
 * Requests Node's HTTP parser rejects before the app runs (malformed request
 * line, unknown method, headers over the limit) are answered with JSON too,
 * by a real replica process over raw sockets: Node's own answer has an empty
 * body, and the contract says every answer is JSON.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { sharedRedisUrl } from '../helpers/global';
import { Replica } from '../../support/replica';
import { makeDir } from '../../support/sessions';

/** Send raw bytes, read until the server closes the connection. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.setTimeout(10_000, () => s.destroy(new Error('no answer within 10 s')));
  });
}

function parse(answer: string): { status: number; headers: string; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1]);
  return { status, headers: head.toLowerCase(), body: JSON.parse(body) as unknown };
}

describe('requests the HTTP parser rejects are answered in JSON (real process, raw sockets)', function () {
  this.timeout(30_000);
  let replica: Replica;
  let dir: string;
  before(async () => {
    dir = makeDir(1);
    replica = await Replica.start({ REDIS_URL: sharedRedisUrl(), TELEGATE_API_KEYS: 'client-error-key-0123456789', TELEGATE_SESSIONS_DIR: dir, TELEGATE_KEY_PREFIX: 'clienterr' });
  });
  after(async () => {
    await replica.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, string, number]> = [
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400],
    ['an unknown method', 'FROBNICATE /status HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['headers over the limit', `GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ];
  for (const [what, bytes, status] of cases) {
    it(`${what}: ${status} with a JSON body, the API's headers, and the connection closed`, async () => {
      const a = parse(await raw(replica.port, bytes));
      assert.equal(a.status, status);
      assert.deepEqual(Object.keys(a.body as object), ['detail']);
      assert.match(a.headers, /content-type: application\/json/);
      assert.match(a.headers, /x-content-type-options: nosniff/);
      assert.match(a.headers, /connection: close/);
    });
  }

  it('a bad request on a kept-alive connection after a good answer: the JSON 400 follows it', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect(replica.port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      let sent = false;
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        // The first answer is complete: now the bad request, on the same connection.
        if (!sent && Buffer.concat(chunks).toString('latin1').endsWith('{"status":"ok"}')) {
          sent = true;
          s.write('GARBAGE\r\n\r\n');
        }
      });
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.setTimeout(10_000, () => s.destroy(new Error('no answer within 10 s')));
    });
    assert.match(answer, /^HTTP\/1\.1 200 OK[\s\S]*\{"status":"ok"\}HTTP\/1\.1 400 Bad Request[\s\S]*\r\n\r\n\{"detail":"Bad Request"\}$/);
  });
});
