/**
 * The ceiling: a bare Express app answering a constant JSON on one route
 * (Express defaults, no middleware), run as its own process like the
 * service. Whatever the load client gets from it is the most any Express
 * route can do on this machine.
 */
import express from 'express';

const app = express();
const body = { status: 'ok', service: 'ceiling' };
app.get('/', (_req, res) => {
  res.json(body);
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
server.keepAliveTimeout = 65_000;
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
