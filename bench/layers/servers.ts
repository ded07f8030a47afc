/**
 * The servers bench/http-layers.ts compares: one process each, the same
 * constant JSON answer on `/`, started as `node --import tsx servers.ts KIND`
 * with PORT set. What differs is only how the answer is made:
 *
 * - node: Node's http server, writeHead + end;
 * - node-headers: the same plus the headers every TeleGate answer carries
 *   (request id, six security headers, four RateLimit-*), one setHeader each;
 * - express-prototypes: Node's http server, but req/res re-parented onto
 *   Express's request/response prototypes as Express does on every request
 *   (Object.setPrototypeOf), then the same writeHead + end;
 * - express-json: the same re-parenting, answered with Express's res.json;
 * - express: a bare Express app with one route (bench/ceiling.ts's app).
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import express from 'express';
import { API_HEADERS } from '../../src/http/app';

const body = { status: 'ok', service: 'ceiling' };
const app = express();
app.set('etag', false);
app.get('/', (_req, res) => {
  res.json(body);
});

const HEADERS: ReadonlyArray<[string, string]> = [
  ['X-Request-Id', '4b1f0c52-3f55-4c1b-9a59-0a0f6a3d2e11'],
  ...API_HEADERS,
  ['RateLimit-Policy', '60000000;w=60'],
  ['RateLimit-Limit', '60000000'],
  ['RateLimit-Remaining', '59999999'],
  ['RateLimit-Reset', '60'],
];

const answer = (res: ServerResponse): void => {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
};

/** Express's per-request re-parenting (express/lib/middleware/init.js in Express 4, application.js handle in 5). */
const reparent = (req: IncomingMessage, res: ServerResponse): express.Response => {
  Object.setPrototypeOf(req, app.request);
  Object.setPrototypeOf(res, app.response);
  const r = res as express.Response;
  const q = req as express.Request;
  r.req = q;
  q.res = r;
  r.locals = Object.create(null) as Record<string, unknown>;
  return r;
};

export const SERVERS: Readonly<Record<string, RequestListener>> = {
  node: (_req, res) => answer(res),
  'node-headers': (_req, res) => {
    for (const [name, value] of HEADERS) res.setHeader(name, value);
    answer(res);
  },
  'express-prototypes': (req, res) => {
    reparent(req, res);
    answer(res);
  },
  'express-json': (req, res) => {
    reparent(req, res).json(body);
  },
  express: app,
};

if (require.main === module) {
  const kind = process.argv[2] ?? '';
  const listener = SERVERS[kind];
  if (!listener) throw new Error(`unknown server ${kind}: one of ${Object.keys(SERVERS).join(', ')}`);
  const server = createServer(listener);
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.PORT), '127.0.0.1');
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
