/**
 * Session strings in every library's format, checked by the libraries
 * themselves, never by our own idea of the formats:
 * - Telethon files are written by Telethon (Debian's python3-telethon, see
 *   telethon_sessions.py), and our telethon string must equal Telethon's own
 *   StringSession.save() of the same session; Telethon loads our telethon
 *   strings made from Pyrogram files.
 * - GramJS's StringSession (npm telegram) loads our gramjs strings.
 * - mtcute's converter (@mtcute/convert) reads our pyrogram, telethon and
 *   gramjs strings, and reads our mtcute strings (converting them back).
 * - Pyrogram files come from make_sessions.py, whose Pyrogram string is
 *   computed independently of this code.
 * Pairs that cannot be made honestly answer an error naming the field.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  convertToPyrogramSession,
  convertToTelethonSession,
  parseGramjsSession,
  parsePyrogramSession,
  parseTelethonSession,
} from '@mtcute/convert';
import { StringSession } from 'telegram/sessions';
import { readSessionFile } from '../../src/sessionfiles';
import { convertSessionString, type SessionKey, type SessionStringFormat } from '../../src/sessionfiles/convert';
import { PROD_DC_TABLE, TEST_DC_TABLE } from '../../src/sessionfiles/dcs';
import { makeSessions, tempDir, type FixtureSpec } from '../../support/sessions';

const TELETHON_SESSIONS = path.join(__dirname, 'telethon_sessions.py');

/** The first Python with Telethon: `python3`, else Debian's own (a pyenv python3 may shadow it). */
function telethonPython(): string {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import telethon']).status === 0) return py;
  }
  throw new Error('no python3 with Telethon: install python3-telethon (Debian) for these tests');
}

function runPython(args: string[], input: unknown): unknown {
  const r = spawnSync(telethonPython(), [TELETHON_SESSIONS, ...args], { input: JSON.stringify(input), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`telethon_sessions.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface TelethonSpec {
  name: string;
  dc_id: number;
  address: string;
  port: number;
  self?: { id: number; phone?: string; bot?: boolean };
  sidecar?: Record<string, unknown>;
}

interface Loaded {
  dc_id: number;
  server_address: string;
  port: number;
  key: string;
}

async function keyOf(file: string): Promise<SessionKey> {
  const info = await readSessionFile(file, { defaultProxy: null });
  assert.equal(info.fileError, undefined, file);
  assert.ok(info.meta.sessionKey, `${file} has a session key`);
  return info.meta.sessionKey;
}

function make(key: SessionKey, format: SessionStringFormat): string {
  const r = convertSessionString(key, format);
  assert.ok(r.ok, `${format}: ${r.ok ? '' : r.error}`);
  return r.sessionString;
}

function errorOf(key: SessionKey, format: SessionStringFormat): string {
  const r = convertSessionString(key, format);
  assert.ok(!r.ok, `${format} must not be made`);
  return r.error;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** GramJS loads `s` to this DC, address, port and key. */
async function assertGramjs(s: string, dcId: number, address: string, port: number, keyHex: string): Promise<void> {
  const session = new StringSession(s);
  await session.load();
  assert.deepEqual([session.dcId, session.serverAddress, session.port], [dcId, address, port]);
  assert.equal(hex(session.authKey?.getKey() ?? new Uint8Array()), keyHex);
}

/** mtcute reads our mtcute string back (through its own converters). */
function assertMtcute(s: string, want: { dcId: number; address: string; port: number; keyHex: string; userId: number; isBot: boolean; isTest: boolean }): void {
  const t = parseTelethonSession(convertToTelethonSession(s));
  const p = parsePyrogramSession(convertToPyrogramSession(s, { apiId: 1 }));
  assert.deepEqual([t.dcId, t.ipAddress, t.port, hex(t.authKey)], [want.dcId, want.address, want.port, want.keyHex]);
  assert.deepEqual([p.userId, p.isBot, p.isTest], [want.userId, want.isBot, want.isTest]);
}

describe('session strings in every format', function () {
  this.timeout(60_000);
  const { dir, cleanup } = tempDir('telegate-convert-');
  after(cleanup);

  describe('from files Telethon wrote', () => {
    const specs: TelethonSpec[] = [
      { name: 'v4', dc_id: 2, address: '149.154.167.51', port: 443, self: { id: 123456789, phone: '15551234567' }, sidecar: { app_id: 2040 } },
      { name: 'v6', dc_id: 4, address: '2001:67c:4e8:f004::a', port: 443, self: { id: 7000000001, phone: '4915112345678' }, sidecar: { api_id: '611335' } },
      { name: 'bare', dc_id: 1, address: '149.154.175.53', port: 443 },
      { name: 'noid', dc_id: 5, address: '91.108.56.130', port: 443, sidecar: { app_id: 2040 } },
      { name: 'bot', dc_id: 2, address: '149.154.167.51', port: 443, self: { id: 5000000002, bot: true }, sidecar: { app_id: 2040 } },
      { name: 'botside', dc_id: 2, address: '149.154.167.51', port: 443, self: { id: 5000000003, bot: true }, sidecar: { app_id: 2040, is_bot: true } },
      { name: 'testdc', dc_id: 2, address: TEST_DC_TABLE[2]!.ipv4, port: 80, self: { id: 42, phone: '9996621234' }, sidecar: { app_id: 17349 } },
    ];
    let made: Record<string, { key: string; string: string }>;
    let keys: Record<string, SessionKey>;

    before(async () => {
      made = runPython([dir], specs) as typeof made;
      keys = {};
      for (const s of specs) keys[s.name] = await keyOf(path.join(dir, `${s.name}.session`));
    });

    it("telethon: equals Telethon's own StringSession.save(), IPv4 and IPv6", () => {
      for (const s of specs) assert.equal(make(keys[s.name]!, 'telethon'), made[s.name]!.string, s.name);
    });

    it("gramjs: GramJS's StringSession loads the same DC, address, port and key", async () => {
      for (const s of specs) await assertGramjs(make(keys[s.name]!, 'gramjs'), s.dc_id, s.address, s.port, made[s.name]!.key);
    });

    it('pyrogram: mtcute reads the DC, key, user, api_id and test mode back', () => {
      const want = { v4: [123456789, 2040, false], v6: [7000000001, 611335, false], botside: [5000000003, 2040, true], testdc: [42, 17349, false] };
      for (const [name, [userId, apiId, isBot]] of Object.entries(want)) {
        const p = parsePyrogramSession(make(keys[name]!, 'pyrogram'));
        const spec = specs.find((s) => s.name === name)!;
        assert.deepEqual(
          [p.dcId, hex(p.authKey), p.userId, p.apiId, p.isBot, p.isTest],
          [spec.dc_id, made[name]!.key, userId, apiId, isBot, name === 'testdc'],
          name,
        );
      }
    });

    it('mtcute: the string mtcute reads has the DC, address, port, key, user and test mode', () => {
      assertMtcute(make(keys.v4!, 'mtcute'), { dcId: 2, address: '149.154.167.51', port: 443, keyHex: made.v4!.key, userId: 123456789, isBot: false, isTest: false });
      // No user when is_bot is unknown: mtcute asks Telegram (getMe) at start; its converter reads that as user 0.
      assertMtcute(make(keys.bot!, 'mtcute'), { dcId: 2, address: '149.154.167.51', port: 443, keyHex: made.bot!.key, userId: 0, isBot: false, isTest: false });
      assertMtcute(make(keys.testdc!, 'mtcute'), { dcId: 2, address: TEST_DC_TABLE[2]!.ipv4, port: 80, keyHex: made.testdc!.key, userId: 42, isBot: false, isTest: true });
      // mtcute prints IPv6 addresses in full
      const v6 = parseTelethonSession(convertToTelethonSession(make(keys.v6!, 'mtcute')));
      assert.deepEqual([v6.dcId, v6.ipv6, hex(v6.authKey)], [4, true, made.v6!.key]);
    });

    it("mtcute's converter reads our telethon and gramjs strings to the same DC and key", () => {
      for (const s of specs) {
        const t = parseTelethonSession(make(keys[s.name]!, 'telethon'));
        const g = parseGramjsSession(make(keys[s.name]!, 'gramjs'));
        assert.deepEqual([t.dcId, t.port, hex(t.authKey)], [s.dc_id, s.port, made[s.name]!.key], s.name);
        assert.deepEqual([g.dcId, g.ipAddress, g.port, hex(g.authKey)], [s.dc_id, s.address, s.port, made[s.name]!.key], s.name);
      }
    });

    it('pyrogram: a field the file and its sidecar do not give is an error naming it', () => {
      assert.match(errorOf(keys.bare!, 'pyrogram'), /needs api_id/);
      assert.match(errorOf(keys.noid!, 'pyrogram'), /needs user_id/);
      // A bot's own entity has no phone, and Telethon does not save whether it is a bot.
      assert.match(errorOf(keys.bot!, 'pyrogram'), /needs is_bot/);
    });
  });

  describe('from Pyrogram files', () => {
    const specs: FixtureSpec[] = [
      { name: 'p', kind: 'pyrogram', dc_id: 2, api_id: 12345, user_id: 777000111, is_bot: false },
      { name: 'pbot', kind: 'pyrogram', dc_id: 4, api_id: 12345, user_id: 6000000004, is_bot: true },
      { name: 'ptest', kind: 'pyrogram', dc_id: 1, api_id: 12345, user_id: 99, test_mode: true },
      { name: 'pside', kind: 'pyrogram', version: 2, dc_id: 5, user_id: 555, sidecar: { app_id: 4 } },
      { name: 'pkuri', kind: 'pyrogram', kurigram: true, dc_id: 3, api_id: 12345, user_id: 31337 },
      { name: 'pnoapi', kind: 'pyrogram', version: 2, dc_id: 2, user_id: 555 },
      { name: 'pnouser', kind: 'pyrogram', dc_id: 2, api_id: 12345 },
    ];
    let expected: ReturnType<typeof makeSessions>;
    let keys: Record<string, SessionKey>;

    before(async () => {
      expected = makeSessions(dir, specs);
      keys = {};
      for (const s of specs) keys[s.name] = await keyOf(path.join(dir, `${s.name}.session`));
    });

    /** The key in Pyrogram's own string, made independently by make_sessions.py. */
    const keyHex = (name: string): string => hex(parsePyrogramSession(expected[name]!.session_string!).authKey);

    it("pyrogram: equals Pyrogram's encoding when every field is known", () => {
      for (const name of ['p', 'pbot', 'ptest', 'pside', 'pkuri']) assert.equal(make(keys[name]!, 'pyrogram'), expected[name]!.session_string, name);
    });

    it('telethon: Telethon loads the DC table address, the port and the key', () => {
      const names = ['p', 'pbot', 'ptest', 'pkuri'];
      const loaded = runPython(['--load'], names.map((n) => make(keys[n]!, 'telethon'))) as Loaded[];
      names.forEach((name, i) => {
        const spec = specs.find((s) => s.name === name)!;
        const dc = (spec.test_mode ? TEST_DC_TABLE : PROD_DC_TABLE)[spec.dc_id as number]!;
        assert.deepEqual(loaded[i], { dc_id: spec.dc_id, server_address: dc.ipv4, port: dc.port, key: keyHex(name) }, name);
      });
    });

    it('gramjs and mtcute: loaded with the same DC, key and user', async () => {
      for (const name of ['p', 'pbot', 'ptest']) {
        const spec = specs.find((s) => s.name === name)!;
        const dc = (spec.test_mode ? TEST_DC_TABLE : PROD_DC_TABLE)[spec.dc_id as number]!;
        await assertGramjs(make(keys[name]!, 'gramjs'), spec.dc_id as number, dc.ipv4, dc.port, keyHex(name));
        assertMtcute(make(keys[name]!, 'mtcute'), {
          dcId: spec.dc_id as number,
          address: dc.ipv4,
          port: dc.port,
          keyHex: keyHex(name),
          userId: spec.user_id as number,
          isBot: spec.is_bot === true,
          isTest: spec.test_mode === true,
        });
      }
    });

    it('pyrogram asked of a Pyrogram file without api_id or user_id: an error, not a zero', () => {
      assert.match(errorOf(keys.pnoapi!, 'pyrogram'), /needs api_id/);
      assert.match(errorOf(keys.pnouser!, 'pyrogram'), /needs user_id/);
      // Without `format`, the file's own string as ever (with 0 for what is unknown).
      assert.equal(parsePyrogramSession(expected.pnoapi!.session_string!).apiId, 0);
    });
  });

  it('telethon needs an IP address; gramjs takes a host name; a port GramJS cannot store is an error', () => {
    const key: SessionKey = {
      dcId: 2,
      address: 'venus.web.telegram.org',
      port: 443,
      authKey: Buffer.alloc(256, 7).toString('base64'),
      testMode: false,
      apiId: null,
      userId: null,
      isBot: null,
    };
    assert.match(errorOf(key, 'telethon'), /not an IP address/);
    assert.equal(parseGramjsSession(make(key, 'gramjs')).ipAddress, 'venus.web.telegram.org');
    assert.match(errorOf({ ...key, port: 40000 }, 'gramjs'), /signed 16-bit port/);
    assert.match(errorOf({ ...key, address: null }, 'mtcute'), /needs address/);
  });
});
