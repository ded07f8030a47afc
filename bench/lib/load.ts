/**
 * The load client: closed-loop virtual users (VUs), each with its own
 * keep-alive HTTP/1.1 connection per target, one request in flight per
 * connection (no pipelining), as a worker pool of real clients behaves.
 *
 * Why not node:http's client or autocannon: on a 2-core machine the client
 * shares the CPU with the service and Redis, so every microsecond it spends
 * is taken from what is measured. node:http's client (Agent, IncomingMessage
 * streams, header objects) costs about as much per request as a bare Express
 * route does; a raw socket with precomputed request bytes and a minimal
 * response parser (status line, Content-Length or chunked) costs a fraction
 * of that, as autocannon's does. autocannon itself cannot run the per-cycle
 * logic we need (GET /session, then POST /release with the id and lease token
 * just received, while tracking which sessions are held to catch a double
 * issue), and it is not a dependency of this project. The same client drives
 * the Express ceiling and the service, so the ratio between them is fair.
 */
import net from 'node:net';
import { Samples, type LatencySummary } from '../../support/stats';

export interface Reply {
  status: number;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** Parse one response at the start of buf; null when more bytes are needed. */
export function parseResponse(buf: Buffer): { reply: Reply; used: number; close: boolean } | null {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) return null;
  const head = buf.toString('latin1', 0, end);
  const status = Number(head.slice(9, 12));
  const close = /\r\nconnection:[ \t]*close/i.test(head);
  const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (cl) {
    const len = Number(cl[1]);
    const used = end + 4 + len;
    if (buf.length < used) return null;
    return { reply: { status, body: buf.subarray(end + 4, used) }, used, close };
  }
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let pos = end + 4;
    for (;;) {
      const le = buf.indexOf(CRLF, pos);
      if (le < 0) return null;
      const size = parseInt(buf.toString('latin1', pos, le), 16);
      if (!Number.isFinite(size)) throw new Error('bad chunk size');
      if (size === 0) {
        const fin = buf.indexOf(CRLF, le + 2); // end of (empty) trailers
        if (fin < 0) return null;
        return { reply: { status, body: Buffer.concat(parts) }, used: fin + 2, close };
      }
      if (buf.length < le + 2 + size + 2) return null;
      parts.push(buf.subarray(le + 2, le + 2 + size));
      pos = le + 2 + size + 2;
    }
  }
  return { reply: { status, body: EMPTY }, used: end + 4, close };
}

/** One keep-alive connection; reconnects on the next request after a close. */
export class Conn {
  private sock: net.Socket | null = null;
  private buf: Buffer = EMPTY;
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  /** performance.now() when the request in flight was written, or 0. */
  sentAt = 0;

  constructor(readonly port: number) {}

  private connect(): net.Socket {
    const s = net.connect({ host: '127.0.0.1', port: this.port, noDelay: true });
    s.on('data', (d: Buffer) => {
      if (this.sock === s) this.onData(d);
    });
    s.on('error', (e) => {
      if (this.sock === s) this.fail(e);
    });
    s.on('close', () => {
      if (this.sock === s) this.fail(new Error('connection closed by server'));
    });
    this.sock = s;
    this.buf = EMPTY;
    return s;
  }

  send(req: Buffer): Promise<Reply> {
    if (this.waiting) return Promise.reject(new Error('one request at a time per connection'));
    const s = this.sock ?? this.connect();
    return new Promise<Reply>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sentAt = performance.now();
      s.write(req);
    });
  }

  /** Fail the request in flight (timeout, error) and drop the socket. */
  fail(e: Error): void {
    const w = this.waiting;
    this.waiting = null;
    this.sentAt = 0;
    const s = this.sock;
    this.sock = null;
    this.buf = EMPTY;
    s?.destroy();
    w?.reject(e);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let parsed;
    try {
      parsed = parseResponse(this.buf);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (parsed === null) return;
    if (parsed.used !== this.buf.length || !this.waiting) {
      this.fail(new Error('unexpected bytes from server'));
      return;
    }
    const w = this.waiting;
    this.waiting = null;
    this.sentAt = 0;
    this.buf = EMPTY;
    if (parsed.close) {
      const s = this.sock;
      this.sock = null;
      s?.end();
    }
    w.resolve(parsed.reply);
  }

  close(): void {
    const s = this.sock;
    this.sock = null;
    s?.destroy();
  }
}

export function requestBytes(method: string, port: number, path: string, headers: Record<string, string>, body?: string): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (body !== undefined) head += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(`${head}\r\n${body ?? ''}`);
}

export interface Window {
  warmupMs: number;
  durationMs: number;
  /** Called when measuring starts and ends (CPU/RSS sampling). */
  onStart?: () => void;
  onEnd?: () => void;
  /** A request unanswered this long fails (and its connection is dropped). */
  requestTimeoutMs?: number;
}

/** Counts errors by kind; keeps the first few details. */
class Errors {
  readonly counts: Record<string, number> = {};
  readonly examples: string[] = [];
  add(kind: string, detail?: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (detail !== undefined && this.examples.length < 5) this.examples.push(`${kind}: ${detail.slice(0, 300)}`);
  }
  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
}

/** Drives the window and a watchdog over all connections; VUs poll `measuring` and `done`. */
class Clock {
  readonly start = performance.now();
  readonly recStart: number;
  readonly recEnd: number;
  private readonly watchdog: NodeJS.Timeout;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    w: Window,
    conns: Conn[],
    private readonly errors: Errors,
  ) {
    this.recStart = this.start + w.warmupMs;
    this.recEnd = this.recStart + w.durationMs;
    this.timers.push(setTimeout(() => w.onStart?.(), w.warmupMs));
    this.timers.push(setTimeout(() => w.onEnd?.(), w.warmupMs + w.durationMs));
    const limit = w.requestTimeoutMs ?? 10_000;
    this.watchdog = setInterval(() => {
      const now = performance.now();
      for (const c of conns) {
        if (c.sentAt !== 0 && now - c.sentAt > limit) {
          this.errors.add('timeout');
          c.fail(new Error(`no answer within ${limit} ms`));
        }
      }
    }, 250);
  }

  /** Sample window: [recStart, recEnd). */
  measuring(t: number): boolean {
    return t >= this.recStart && t < this.recEnd;
  }

  done(): boolean {
    return performance.now() >= this.recEnd;
  }

  stop(): void {
    clearInterval(this.watchdog);
    for (const t of this.timers) clearTimeout(t);
  }
}

export interface RequestsResult {
  concurrency: number;
  seconds: number;
  requests: number;
  rps: number;
  latency: LatencySummary;
  errors: Record<string, number>;
  errorExamples: string[];
}

/** Closed loop of one constant request (the ceiling, GET /status). */
export async function runRequests(o: { port: number; request: Buffer; concurrency: number; expectStatus?: number } & Window): Promise<RequestsResult> {
  const conns = Array.from({ length: o.concurrency }, () => new Conn(o.port));
  const errors = new Errors();
  const lat = new Samples();
  const clock = new Clock(o, conns, errors);
  let requests = 0;
  const expect = o.expectStatus ?? 200;
  const vu = async (conn: Conn): Promise<void> => {
    while (!clock.done()) {
      const t0 = performance.now();
      try {
        const r = await conn.send(o.request);
        const t1 = performance.now();
        if (r.status !== expect) {
          errors.add(`HTTP ${r.status}`, r.body.toString());
          continue;
        }
        if (clock.measuring(t0)) lat.add(t1 - t0);
        if (clock.measuring(t1)) requests++;
      } catch (err) {
        errors.add('connection', (err as Error).message);
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  try {
    await Promise.all(conns.map(vu));
  } finally {
    clock.stop();
    for (const c of conns) c.close();
  }
  const seconds = o.durationMs / 1000;
  return {
    concurrency: o.concurrency,
    seconds,
    requests,
    rps: Math.round(requests / seconds),
    latency: lat.summary(),
    errors: errors.counts,
    errorExamples: errors.examples,
  };
}

export interface CyclesResult {
  concurrency: number;
  targets: number;
  seconds: number;
  cycles: number;
  cyclesPerSec: number;
  /** HTTP requests per second (two per cycle; one with `next`, the first acquire of each client aside). */
  rps: number;
  acquire: LatencySummary;
  release: LatencySummary;
  /** A session observed held by two clients at once. Must be 0. */
  doubleIssues: number;
  /** Releases answered 409 lease_mismatch: someone else holds our lease. Must be 0. */
  leaseMismatches: number;
  /** Distinct sessions issued during the run. */
  distinctSessions: number;
  errors: Record<string, number>;
  errorExamples: string[];
}

/** One answer (or failure) as runCycles saw it, for a timeline (bench/lib/ha.ts). */
export interface ReplyEvent {
  op: 'acquire' | 'release';
  /** performance.now() when the request was written and when its answer (or failure) came. */
  sentAt: number;
  at: number;
  /** 0: no answer (connection error or timeout). */
  status: number;
  body: Buffer;
}

/**
 * Acquire → release cycles. A session id is recorded as held from the moment
 * the GET /session answer arrives until just before its POST /release is
 * written, so a session seen held twice was issued while someone held it:
 * a double issue, whatever the timing of the two requests. With several
 * targets (replicas) every request goes to the next one round-robin, so a
 * session is usually acquired through one replica and released through another.
 * With `next`, the release carries next=true and its answer is the next
 * session (one request per cycle; a GET /session only when it found none free).
 */
export async function runCycles(
  o: { ports: number[]; apiKey: string; concurrency: number; next?: boolean; onReply?: (e: ReplyEvent) => void } & Window,
): Promise<CyclesResult> {
  const perVu = Array.from({ length: o.concurrency }, () => o.ports.map((p) => new Conn(p)));
  const all = perVu.flat();
  const errors = new Errors();
  const acq = new Samples();
  const rel = new Samples();
  const clock = new Clock(o, all, errors);
  const acquireReq = o.ports.map((p) => requestBytes('GET', p, '/session', { 'X-API-Key': o.apiKey }));
  const releaseHead = o.ports.map(
    (p) => `POST /release HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\nX-API-Key: ${o.apiKey}\r\nContent-Type: application/json\r\nContent-Length: `,
  );
  const held = new Map<number, number>();
  const seen = new Set<number>();
  let rr = 0;
  let cycles = 0;
  let doubleIssues = 0;
  let leaseMismatches = 0;

  /** Record `id` as held by VU `me` (a double issue when someone else holds it). */
  const take = (id: number, me: number): void => {
    const other = held.get(id);
    if (other !== undefined) {
      doubleIssues++;
      errors.add('double issue', `session ${id} issued to VU ${me} while VU ${other} held it`);
    }
    held.set(id, me);
    seen.add(id);
  };

  const vu = async (conns: Conn[], me: number): Promise<void> => {
    // With next=true the release answers the next session: after the first acquire, one request per cycle.
    let cur: { id: number; token: string } | null = null;
    while (!clock.done()) {
      let t = rr++ % conns.length;
      if (cur === null) {
        const c1 = conns[t] as Conn;
        const t0 = performance.now();
        try {
          const r = await c1.send(acquireReq[t] as Buffer);
          const t1 = performance.now();
          o.onReply?.({ op: 'acquire', sentAt: t0, at: t1, status: r.status, body: r.body });
          if (r.status !== 200) {
            errors.add(`acquire HTTP ${r.status}`, r.body.toString());
            await new Promise((res) => setTimeout(res, 5));
            continue;
          }
          const s = JSON.parse(r.body.toString()) as { session_id: number; lease_token: string };
          cur = { id: s.session_id, token: s.lease_token };
          if (clock.measuring(t0)) acq.add(t1 - t0);
        } catch (err) {
          o.onReply?.({ op: 'acquire', sentAt: t0, at: performance.now(), status: 0, body: Buffer.from((err as Error).message) });
          errors.add('acquire connection', (err as Error).message);
          await new Promise((res) => setTimeout(res, 10));
          continue;
        }
        take(cur.id, me);
        t = rr++ % conns.length;
      }

      // Give it back. No longer ours from the moment the release is written.
      const { id, token } = cur;
      held.delete(id);
      cur = null;
      const c2 = conns[t] as Conn;
      const body = `{"session_id":${id},"lease_token":"${token}"${o.next ? ',"next":true' : ''}}`;
      const req = Buffer.from(`${releaseHead[t] as string}${body.length}\r\n\r\n${body}`, 'latin1');
      const t2 = performance.now();
      try {
        const r = await c2.send(req);
        const t3 = performance.now();
        o.onReply?.({ op: 'release', sentAt: t2, at: t3, status: r.status, body: r.body });
        if (r.status === 409) leaseMismatches++;
        if (o.next && r.status === 503) {
          if (clock.measuring(t3)) cycles++; // released; nothing free at that instant: the next loop acquires
          continue;
        }
        if (r.status !== 200) {
          errors.add(`release HTTP ${r.status}`, r.body.toString());
          continue;
        }
        if (clock.measuring(t2)) rel.add(t3 - t2);
        if (clock.measuring(t3)) cycles++;
        if (o.next) {
          const s = JSON.parse(r.body.toString()) as { session_id: number; lease_token: string };
          cur = { id: s.session_id, token: s.lease_token };
          take(cur.id, me);
        }
      } catch (err) {
        o.onReply?.({ op: 'release', sentAt: t2, at: performance.now(), status: 0, body: Buffer.from((err as Error).message) });
        errors.add('release connection', (err as Error).message);
      }
    }
    if (cur !== null) {
      // Leave the pool as found: the last session goes back with a plain release.
      held.delete(cur.id);
      const body = `{"session_id":${cur.id},"lease_token":"${cur.token}"}`;
      await (conns[0] as Conn).send(Buffer.from(`${releaseHead[0] as string}${body.length}\r\n\r\n${body}`, 'latin1')).catch(() => undefined);
    }
  };
  try {
    await Promise.all(perVu.map((conns, i) => vu(conns, i)));
  } finally {
    clock.stop();
    for (const c of all) c.close();
  }
  const seconds = o.durationMs / 1000;
  return {
    concurrency: o.concurrency,
    targets: o.ports.length,
    seconds,
    cycles,
    cyclesPerSec: Math.round(cycles / seconds),
    rps: Math.round(((o.next ? 1 : 2) * cycles) / seconds),
    acquire: acq.summary(),
    release: rel.summary(),
    doubleIssues,
    leaseMismatches,
    distinctSessions: seen.size,
    errors: errors.counts,
    errorExamples: errors.examples,
  };
}

