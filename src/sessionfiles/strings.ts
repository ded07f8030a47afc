/**
 * Session strings, byte for byte as the Python libraries produce them.
 *
 * - Telethon `StringSession.save()` (telethon/sessions/string.py):
 *   '1' + base64.urlsafe_b64encode(struct.pack('>B{4|16}sH256s', dc_id, ip, port, key))
 *   — URL-safe alphabet, WITH '=' padding.
 * - Pyrogram `export_session_string()` (pyrogram/storage/storage.py,
 *   SESSION_STRING_FORMAT = '>BI?256sQ?'):
 *   urlsafe_b64encode(pack(dc_id, api_id, test_mode, key, user_id, is_bot)).rstrip('=')
 */
import net from 'node:net';

export const AUTH_KEY_BYTES = 256;

/** The packed bytes of an IP literal (like Python's ipaddress.ip_address(a).packed), or null. */
export function packIp(address: string): Uint8Array | null {
  const kind = net.isIP(address);
  if (kind === 4) {
    return Uint8Array.from(address.split('.').map(Number));
  }
  if (kind !== 6) return null;
  let text = address;
  const tail: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes the last two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    tail.push(...v4[1].split('.').map(Number));
    text = text.slice(0, -v4[1].length);
    text = text.endsWith('::') ? text : text.slice(0, -1); // drop the ':' before the tail
  }
  const groupsNeeded = (16 - tail.length) / 2;
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : groupsNeeded - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...new Array<string>(zeros).fill('0'), ...restGroups];
  if (groups.length !== groupsNeeded) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  out.set(tail, groupsNeeded * 2);
  return out;
}

/** Telethon StringSession (version '1'); null when the address is not an IP literal. */
export function telethonSessionString(dcId: number, address: string, port: number, authKey: Uint8Array): string | null {
  const ip = packIp(address);
  if (ip === null || authKey.length !== AUTH_KEY_BYTES) return null;
  if (!isUint(dcId, 0xff) || !isUint(port, 0xffff)) return null;
  const buf = Buffer.alloc(1 + ip.length + 2 + AUTH_KEY_BYTES);
  buf.writeUInt8(dcId, 0);
  buf.set(ip, 1);
  buf.writeUInt16BE(port, 1 + ip.length);
  buf.set(authKey, 3 + ip.length);
  // Node's 'base64url' drops the padding that Python's urlsafe_b64encode keeps.
  return '1' + buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export interface PyrogramStringFields {
  dcId: number;
  apiId: number;
  testMode: boolean;
  authKey: Uint8Array;
  userId: bigint;
  isBot: boolean;
}

/** Pyrogram / Kurigram current string format ('>BI?256sQ?'), unpadded; null if a field does not fit. */
export function pyrogramSessionString(f: PyrogramStringFields): string | null {
  if (f.authKey.length !== AUTH_KEY_BYTES || !isUint(f.dcId, 0xff) || !isUint(f.apiId, 0xffffffff)) return null;
  if (f.userId < 0n || f.userId > 0xffffffffffffffffn) return null;
  const buf = Buffer.alloc(1 + 4 + 1 + AUTH_KEY_BYTES + 8 + 1);
  let o = buf.writeUInt8(f.dcId, 0);
  o = buf.writeUInt32BE(f.apiId, o);
  o = buf.writeUInt8(f.testMode ? 1 : 0, o);
  buf.set(f.authKey, o);
  o += AUTH_KEY_BYTES;
  o = buf.writeBigUInt64BE(f.userId, o);
  buf.writeUInt8(f.isBot ? 1 : 0, o);
  return buf.toString('base64url');
}

export function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}
