/** The server's table against the shared vectors (the clients check the same file). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decide } from '../../src/telegram/errors';

interface Vector {
  error: string;
  method: string | null;
  action: 'rest' | 'invalidate' | 'none';
  scope?: string | null;
  seconds?: number;
  health?: string;
}

export const VECTORS_FILE = path.resolve(__dirname, '..', 'vectors', 'telegram-errors.json');
const doc = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as { restricted_rest_seconds: number; vectors: Vector[] };

describe('Telegram error table (shared vectors)', () => {
  for (const v of doc.vectors) {
    it(`${v.error} from ${v.method ?? '(no method)'} -> ${v.action}`, () => {
      const d = decide(v.error, v.method?.toLowerCase(), doc.restricted_rest_seconds);
      const expected: Record<string, unknown> = { action: v.action };
      if (v.action === 'rest') Object.assign(expected, { scope: v.scope, seconds: v.seconds });
      if (v.health !== undefined) expected.health = v.health;
      assert.deepEqual(d, expected);
    });
  }

  it('matches names case-insensitively and never by a numeric code', () => {
    assert.deepEqual(decide('flood_wait_7', 'x', 1), { action: 'rest', scope: 'x', seconds: 7 });
    assert.deepEqual(decide('420', 'x', 1), { action: 'none' });
    assert.deepEqual(decide('406', undefined, 1), { action: 'none' });
  });
});
