/**
 * Store errors in logs (issue 10 item 10), without a server: the log's error
 * serializer and the store's error mapping never carry a command's arguments,
 * with a real ioredis error from a real redis-server refusing a script.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { StoreRefusedError, StoreReplyError, StoreUnavailableError } from '../src/errors';
import { createLogger, serializeErr } from '../src/log';
import { mapError } from '../src/pool/redis';
import { testClient } from '../support/redis';
import { sharedRedisUrl } from './helpers/global';

const SECRET = '1BVtsOKABu-session-string-secret';

describe('errors in logs never carry a command’s arguments', () => {
  let real: Error;

  before(async () => {
    const c = await testClient(sharedRedisUrl());
    try {
      // A real ReplyError from ioredis: it carries the command and its arguments.
      await c.eval("return redis.error_reply('ERR refused')", 0, SECRET);
      assert.fail('the script should fail');
    } catch (err) {
      real = err as Error;
    } finally {
      c.disconnect();
    }
    assert.ok(JSON.stringify((real as Error & { command?: unknown }).command).includes(SECRET), 'ioredis attaches the arguments');
  });

  it('the logger drops them, also from a cause', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.error({ err: real }, 'direct');
    logger.error({ err: new Error('wrapped', { cause: real }) }, 'as a cause');
    assert.ok(!out.includes(SECRET), out);
    assert.match(out, /ERR refused/);
    const s = serializeErr(real) as Record<string, unknown>;
    assert.equal(s.command, undefined);
    assert.equal(s.type, 'ReplyError');
  });

  it('mapError keeps what went wrong and drops what it was given', () => {
    const mapped = mapError(real);
    assert.ok(mapped instanceof StoreReplyError);
    assert.ok(!JSON.stringify(mapped).includes(SECRET));
    assert.ok(!JSON.stringify(serializeErr(mapped)).includes(SECRET));
    const oom = Object.assign(new Error("OOM command not allowed when used memory > 'maxmemory'."), { name: 'ReplyError', command: { name: 'evalsha', args: [SECRET] } });
    const refused = mapError(oom);
    assert.ok(refused instanceof StoreRefusedError && refused instanceof StoreUnavailableError);
    assert.match(refused.message, /^store refused the write: OOM/);
    const timeout = Object.assign(new Error('Command timed out'), { command: { name: 'evalsha', args: [SECRET] } });
    const unavailable = mapError(timeout);
    assert.ok(unavailable instanceof StoreUnavailableError);
    assert.ok(!JSON.stringify(serializeErr(unavailable)).includes(SECRET));
    assert.equal((unavailable.cause as Error).message, 'Command timed out');
  });
});
