/** Duck-typed recognition of GramJS / generic Telegram errors (no server needed). */
import assert from 'node:assert/strict';
import { classifyTelegramError, floodWaitSeconds, invalidationReason } from '../../src/client';
import { FloodWaitError, RPCError, SlowModeWaitError } from './fakes';

describe('client: Telegram error recognition', () => {
  it('GramJS FloodWaitError by class and .seconds', () => {
    assert.deepEqual(classifyTelegramError(new FloodWaitError({ capture: 42, request: { className: 'messages.SendMessage' } })), {
      kind: 'floodwait',
      seconds: 42,
    });
  });

  it('by name when the class name is lost (minified), and in plain objects', () => {
    const e = Object.assign(new Error('A wait of 9 seconds is required'), { name: 'FloodWaitError', seconds: 9 });
    assert.equal(floodWaitSeconds(e), 9);
    assert.equal(floodWaitSeconds({ errorMessage: 'FLOOD_WAIT', seconds: 4 }), 4);
  });

  it('FLOOD(_PREMIUM)_WAIT_<n> in errorMessage or message', () => {
    assert.equal(floodWaitSeconds(new RPCError('FLOOD_PREMIUM_WAIT_5', undefined, 420)), 5);
    assert.equal(floodWaitSeconds(new Error('RPCError 420: FLOOD_WAIT_17')), 17);
    assert.equal(floodWaitSeconds(new Error('FLOOD_WAIT_99999999999')), 31_536_000);
  });

  it('ignores other waits and unrelated errors', () => {
    assert.equal(classifyTelegramError(new SlowModeWaitError({ capture: 10 })), null);
    assert.equal(floodWaitSeconds(new Error('SLOWMODE_WAIT_10')), null);
    assert.equal(floodWaitSeconds(new Error('FLOOD_TEST_PHONE_WAIT_10')), null);
    assert.equal(classifyTelegramError(new Error('boom')), null);
    assert.equal(classifyTelegramError('a string'), null);
    assert.equal(classifyTelegramError(null), null);
    assert.equal(invalidationReason(new Error('MY_AUTH_KEY_UNREGISTERED_THING')), null);
  });

  it('dead sessions: RPCError errorMessage, class names, messages, causes', () => {
    assert.deepEqual(classifyTelegramError(new RPCError('AUTH_KEY_UNREGISTERED', undefined, 401)), { kind: 'invalidate', reason: 'AUTH_KEY_UNREGISTERED' });
    assert.equal(invalidationReason(new RPCError('USER_DEACTIVATED_BAN', undefined, 401)), 'USER_DEACTIVATED_BAN');
    class SessionRevokedError extends Error {}
    assert.equal(invalidationReason(new SessionRevokedError('The authorization has been invalidated')), 'SESSION_REVOKED');
    assert.equal(invalidationReason(new Error('401: USER_DEACTIVATED (caused by users.GetUsers)')), 'USER_DEACTIVATED');
    assert.equal(invalidationReason(new Error('wrapped', { cause: new RPCError('AUTH_KEY_DUPLICATED', undefined, 406) })), 'AUTH_KEY_DUPLICATED');
  });
});
