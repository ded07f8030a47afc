/**
 * Session strings in the format of the worker's library, whatever format the
 * file was written in. The reader keeps what the formats are made from (a
 * SessionKey, stored with the session like the string itself); the string a
 * worker asks for is made from it when the session is leased.
 *
 * What each format carries (verified against the libraries in the tests):
 * - telethon (telethon/sessions/string.py): DC, IP address, port, auth key.
 * - gramjs (telegram/sessions/StringSession.js): DC, address (any text), port
 *   (a signed 16-bit number), auth key; base64 with '+/' and padding.
 * - pyrogram (storage.py, '>BI?256sQ?'): DC, api_id, test mode, auth key,
 *   user id, is_bot. No address: Pyrogram takes it from its DC table.
 * - mtcute (@mtcute/core writeStringSession, version 3): DC option (id,
 *   address, port, IPv6 and test flags), auth key, and the user (id, is_bot)
 *   when both are known; without it mtcute asks Telegram (getMe) at start.
 * A field the asked format needs and the file (or its sidecar) does not give
 * is an error naming the field, never a made-up value.
 */
import { AUTH_KEY_BYTES, isUint, packIp, pyrogramSessionString, telethonSessionString } from './strings';

export const SESSION_STRING_FORMATS = ['telethon', 'pyrogram', 'gramjs', 'mtcute'] as const;
export type SessionStringFormat = (typeof SESSION_STRING_FORMATS)[number];

/** What the session strings are made from. Secret: never listed, never logged. */
export interface SessionKey {
  dcId: number;
  /** The address the file stores (Pyrogram files: the DC table's); null when unknown. */
  address: string | null;
  port: number | null;
  /** The 256-byte auth key, base64. */
  authKey: string;
  testMode: boolean;
  /** From the session file (Pyrogram) or the sidecar's app_id / api_id. */
  apiId: number | null;
  /** Decimal text: user ids are 64-bit. */
  userId: string | null;
  isBot: boolean | null;
}

export type ConvertResult = { ok: true; sessionString: string } | { ok: false; error: string };

const WHERE: Record<'address' | 'port' | 'api_id' | 'user_id' | 'is_bot', string> = {
  address: 'the session file stores no server address',
  port: 'the session file stores no port',
  api_id: 'not in the session file; give app_id or api_id in its sidecar JSON',
  user_id: "not in the session file; give user_id in its sidecar JSON",
  is_bot: 'not in the session file; give is_bot (or the phone) in its sidecar JSON',
};

function missing(format: SessionStringFormat, field: keyof typeof WHERE): ConvertResult {
  return { ok: false, error: `${format} string needs ${field}: ${WHERE[field]}` };
}

function invalid(format: SessionStringFormat, what: string): ConvertResult {
  return { ok: false, error: `${format} string cannot carry ${what}` };
}

function keyBytes(key: SessionKey): Uint8Array {
  return Buffer.from(key.authKey, 'base64');
}

/** The session string of `format` made from `key`, or why it cannot be made honestly. */
export function convertSessionString(key: SessionKey, format: SessionStringFormat): ConvertResult {
  const authKey = keyBytes(key);
  if (authKey.length !== AUTH_KEY_BYTES) return { ok: false, error: `auth key is ${authKey.length} bytes, expected ${AUTH_KEY_BYTES}` };
  switch (format) {
    case 'telethon': {
      if (key.address === null) return missing(format, 'address');
      if (key.port === null) return missing(format, 'port');
      if (packIp(key.address) === null) return invalid(format, `the address ${JSON.stringify(key.address)} (not an IP address)`);
      const s = telethonSessionString(key.dcId, key.address, key.port, authKey);
      return s === null ? invalid(format, `port ${key.port}`) : { ok: true, sessionString: s };
    }
    case 'gramjs': {
      if (key.address === null) return missing(format, 'address');
      if (key.port === null) return missing(format, 'port');
      const s = gramjsSessionString(key.dcId, key.address, key.port, authKey);
      return s === null ? invalid(format, `port ${key.port} (GramJS stores a signed 16-bit port)`) : { ok: true, sessionString: s };
    }
    case 'pyrogram': {
      if (key.apiId === null) return missing(format, 'api_id');
      if (key.userId === null) return missing(format, 'user_id');
      if (key.isBot === null) return missing(format, 'is_bot');
      const s = pyrogramSessionString({
        dcId: key.dcId,
        apiId: key.apiId,
        testMode: key.testMode,
        authKey,
        userId: BigInt(key.userId),
        isBot: key.isBot,
      });
      return s === null ? invalid(format, `user id ${key.userId}`) : { ok: true, sessionString: s };
    }
    case 'mtcute': {
      if (key.address === null) return missing(format, 'address');
      if (key.port === null) return missing(format, 'port');
      const user = key.userId === null || key.isBot === null ? null : { userId: Number(key.userId), isBot: key.isBot };
      if (user !== null && !Number.isSafeInteger(user.userId)) return invalid(format, `user id ${key.userId}`);
      const s = mtcuteSessionString({ dcId: key.dcId, address: key.address, port: key.port, testMode: key.testMode, authKey, user });
      return s === null ? invalid(format, `DC ${key.dcId} with port ${key.port}`) : { ok: true, sessionString: s };
    }
  }
}

/**
 * The string in the file's own format, as TeleGate has always given it (no
 * `format` asked): Telethon's for Telethon files (none when the address is
 * not an IP); Pyrogram's for Pyrogram files, with api_id / user_id 0 when
 * unknown.
 */
export function nativeSessionString(key: SessionKey, format: 'telethon' | 'pyrogram'): string | null {
  const authKey = keyBytes(key);
  if (format === 'telethon') {
    return key.address === null || key.port === null ? null : telethonSessionString(key.dcId, key.address, key.port, authKey);
  }
  return pyrogramSessionString({
    dcId: key.dcId,
    apiId: key.apiId ?? 0,
    testMode: key.testMode,
    authKey,
    userId: key.userId === null ? 0n : BigInt(key.userId),
    isBot: key.isBot ?? false,
  });
}

/** GramJS StringSession.save(): '1' + base64(dc u8, len i16 BE, address, port i16 BE, key). */
export function gramjsSessionString(dcId: number, address: string, port: number, authKey: Uint8Array): string | null {
  const addr = Buffer.from(address, 'utf8');
  if (!isUint(dcId, 0xff) || !isUint(port, 0x7fff) || addr.length === 0 || addr.length > 0x7fff) return null;
  const buf = Buffer.alloc(1 + 2 + addr.length + 2 + authKey.length);
  let o = buf.writeUInt8(dcId, 0);
  o = buf.writeInt16BE(addr.length, o);
  o += addr.copy(buf, o);
  o = buf.writeInt16BE(port, o);
  buf.set(authKey, o);
  return '1' + buf.toString('base64');
}

export interface MtcuteStringFields {
  dcId: number;
  address: string;
  port: number;
  testMode: boolean;
  authKey: Uint8Array;
  user: { userId: number; isBot: boolean } | null;
}

/** TL `bytes`: length (1 byte, or 254 + 3 bytes LE), the bytes, zero padding to 4. */
function tlBytes(data: Uint8Array): Buffer {
  const head = data.length <= 253 ? Buffer.from([data.length]) : Buffer.from([254, data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff]);
  const pad = (4 - ((head.length + data.length) % 4)) % 4;
  return Buffer.concat([head, data, Buffer.alloc(pad)]);
}

function int32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

const TL_BOOL_TRUE = 0x997275b5;
const TL_BOOL_FALSE = 0xbc799737;

/**
 * mtcute's string session, version 3 (@mtcute/core highlevel/utils/string-session.js):
 * version u8, flags i32 LE (1: has user), the DC option as TL bytes
 * (version 2, id, flags 1: IPv6 / 4: test mode, address as TL string, port
 * i32 LE), [user id int53 LE, is_bot TL Bool], the auth key as TL bytes;
 * base64url without padding. The media DC is the main one (flag 4 unset).
 */
export function mtcuteSessionString(f: MtcuteStringFields): string | null {
  if (!isUint(f.dcId, 0xff) || !isUint(f.port, 0x7fffffff)) return null;
  const dcFlags = (f.address.includes(':') ? 1 : 0) | (f.testMode ? 4 : 0);
  const dcOption = Buffer.concat([Buffer.from([2, f.dcId, dcFlags]), tlBytes(Buffer.from(f.address, 'utf8')), int32le(f.port)]);
  const parts = [Buffer.from([3]), int32le(f.user === null ? 0 : 1), tlBytes(dcOption)];
  if (f.user !== null) {
    const id = Buffer.alloc(8);
    id.writeBigInt64LE(BigInt(f.user.userId));
    const bool = Buffer.alloc(4);
    bool.writeUInt32LE(f.user.isBot ? TL_BOOL_TRUE : TL_BOOL_FALSE);
    parts.push(id, bool);
  }
  parts.push(tlBytes(f.authKey));
  return Buffer.concat(parts).toString('base64url');
}
