/**
 * Requests Node's HTTP parser rejects before the app sees them (a malformed
 * request line, an unknown method, headers over the limit, a request that
 * outlives requestTimeout) are answered by Node with an empty body. The
 * contract says every answer is JSON, so the server answers them here, as
 * Node would (same statuses, connection closed), with a JSON body and the API's
 * security headers. Nothing of the request is echoed or logged but the
 * parser's error code (at debug: any client can cause these at will).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../log';
import { API_HEADERS } from './app';

/** Node's own answer for each parser error (lib/_http_server.js), the rest 400. */
const STATUS: Readonly<Record<string, [number, string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/** The server's 'clientError' listener: a JSON answer where the socket can still take one, else nothing. */
export function clientErrorHandler(logger: Logger): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    logger.debug({ code: err.code }, 'request rejected by the HTTP parser');
    // While an answer to an earlier request on this connection is still in progress (pipelining), nothing may be
    // written in between: the connection is closed, as Node's default handler does. Node detaches a finished answer
    // from its socket (this private field back to null), so a keep-alive connection whose answers are all written
    // gets the JSON answer.
    const current = (socket as Duplex & { _httpMessage?: unknown })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || (current !== null && current !== undefined)) {
      socket.destroy();
      return;
    }
    const [status, text] = STATUS[err.code ?? ''] ?? [400, 'Bad Request'];
    const body = JSON.stringify({ detail: text });
    const headers = [
      `HTTP/1.1 ${status} ${text}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...API_HEADERS.map(([name, value]) => `${name}: ${value}`),
      'Connection: close',
    ];
    socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
  };
}
