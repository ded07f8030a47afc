/**
 * Telegram's data centres: the one table TeleGate takes an address from when
 * a session file does not store one (Pyrogram files; the strings made from
 * them). Addresses and ports as Pyrogram/Kurigram connect
 * (pyrogram/session/internals/data_center.py: production on 443, the test
 * DCs 1..3 on 80; DC 203 is Kurigram's). The strings use the IPv4 address,
 * as the libraries do by default; the IPv6 one is listed for the same DC.
 */

export interface DcAddress {
  ipv4: string;
  ipv6: string;
  port: number;
}

export const PROD_DC_TABLE: Readonly<Record<number, DcAddress>> = {
  1: { ipv4: '149.154.175.53', ipv6: '2001:b28:f23d:f001::a', port: 443 },
  2: { ipv4: '149.154.167.51', ipv6: '2001:67c:4e8:f002::a', port: 443 },
  3: { ipv4: '149.154.175.100', ipv6: '2001:b28:f23d:f003::a', port: 443 },
  4: { ipv4: '149.154.167.91', ipv6: '2001:67c:4e8:f004::a', port: 443 },
  5: { ipv4: '91.108.56.130', ipv6: '2001:b28:f23f:f005::a', port: 443 },
  203: { ipv4: '91.105.192.100', ipv6: '2a0a:f280:203:a:5000::100', port: 443 },
};

export const TEST_DC_TABLE: Readonly<Record<number, DcAddress>> = {
  1: { ipv4: '149.154.175.10', ipv6: '2001:b28:f23d:f001::e', port: 80 },
  2: { ipv4: '149.154.167.40', ipv6: '2001:67c:4e8:f002::e', port: 80 },
  3: { ipv4: '149.154.175.117', ipv6: '2001:b28:f23d:f003::e', port: 80 },
};

/** The DC's address in the table, or null for a DC it does not list. */
export function dcAddress(dcId: number, testMode: boolean): DcAddress | null {
  return (testMode ? TEST_DC_TABLE : PROD_DC_TABLE)[dcId] ?? null;
}

/**
 * Whether a stored address is one of the test DCs' (Telethon files do not
 * store test mode: the address is how the libraries tell, as mtcute's
 * converter does).
 */
export function isTestDcAddress(address: string | null): boolean {
  if (address === null) return false;
  return Object.values(TEST_DC_TABLE).some((dc) => dc.ipv4 === address || dc.ipv6 === address);
}
