/** Finding the Telegram RPC error (name + method) in GramJS-shaped and generic errors (no server needed). */
import assert from 'node:assert/strict';
import { floodWaitSeconds, telegramErrorOf } from '../../clients/typescript/src';
import { FloodWaitError, RPCError, SlowModeWaitError, VECTORS, gramjsError } from './fakes';

describe('client: Telegram error names', () => {
  for (const v of VECTORS) {
    it(`finds ${v.error} from ${v.method ?? '(no method)'} in a GramJS error`, () => {
      const expected = /^FLOOD_WAIT_(\d+)$/.exec(v.error) && Number(v.error.slice(11)) > 31_536_000 ? 'FLOOD_WAIT_31536000' : v.error;
      assert.deepEqual(telegramErrorOf(gramjsError(v)), { error: expected, method: v.method });
    });
  }

  it('rebuilds names GramJS drops, reads the method from the message, follows causes', () => {
    assert.deepEqual(telegramErrorOf(new SlowModeWaitError({ capture: 10 })), { error: 'SLOWMODE_WAIT_10', method: null });
    assert.deepEqual(telegramErrorOf(new Error('420: FLOOD_WAIT_70 (caused by messages.SendMessage)')), { error: 'FLOOD_WAIT_70', method: 'messages.SendMessage' });
    assert.deepEqual(telegramErrorOf(new Error('job failed', { cause: new RPCError('PEER_FLOOD', { className: 'messages.SendMessage' }, 400) })), {
      error: 'PEER_FLOOD',
      method: 'messages.SendMessage',
    });
    assert.equal(floodWaitSeconds(new FloodWaitError({ capture: 42 })), 42);
    assert.equal(floodWaitSeconds(new RPCError('FLOOD_PREMIUM_WAIT_5', undefined, 420)), 5);
  });

  it('guesses nothing from errors that carry no Telegram name', () => {
    for (const e of [new Error('boom'), new TypeError('not telegram'), new Error('MY_AUTH_KEY_UNREGISTERED_THING happened'), 'a string', null, {}]) {
      assert.equal(telegramErrorOf(e), null, JSON.stringify(e));
    }
  });
});
