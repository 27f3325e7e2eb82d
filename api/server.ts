/**
 * Owns the API's HTTP server: the request time limits (slow-loris guard) and the answer
 * to requests Node refuses before Koa sees them (headers too large, malformed, too slow),
 * which gets the same error body as every other refusal.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../src/config.js';

/**
 * Connections the kernel may queue for the API before it accepts them. With Node's default
 * (511), 2,000 clients connecting at once while the event loop was busy overflowed the
 * queue: Linux then drops the handshake's last ACK, and clients whose retries ran out got
 * ECONNRESET (webhooks-inbound's burst test in a CI run; nstat TcpExtListenOverflows).
 * The kernel caps it at net.core.somaxconn (4096 by default since Linux 5.4).
 */
export const LISTEN_BACKLOG = 4096;

/** Upper bound on how late a timed-out request is noticed beyond its limit. */
const MAX_TIMEOUT_CHECK_MS = 1_000;

/** Node's parser error codes → status and error code of the body (see node:http 'clientError'). */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'request_header_fields_too_large', 'Request headers too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'Request not received in time'],
};

function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // Nothing can be written to a socket that is gone or already answered.
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'bad_request', 'Malformed HTTP request'];
  const body = JSON.stringify({ error: { code, message, details: [] } });
  socket.end(
    `HTTP/1.1 ${status} ${code.replace(/_/g, ' ')}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function createApiServer(
  config: Pick<Config, 'httpHeadersTimeoutMs' | 'httpRequestTimeoutMs'>,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  // Slow-loris guard: a client that trickles its headers or body is cut off (408) after
  // these limits instead of holding a connection for Node's defaults (60 s / 300 s). Node
  // checks them every connectionsCheckingInterval ms (default 30 s), so that follows the
  // headers limit. requestTimeout covers receiving the request only, so SSE and WebSocket
  // streams, which outlive their request, are not cut.
  // https://nodejs.org/docs/latest-v20.x/api/http.html#serverheaderstimeout
  const server = createServer(
    {
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: Math.max(config.httpRequestTimeoutMs, config.httpHeadersTimeoutMs),
      connectionsCheckingInterval: Math.min(MAX_TIMEOUT_CHECK_MS, Math.ceil(config.httpHeadersTimeoutMs / 4)),
    },
    handler,
  );
  server.on('clientError', answerClientError);
  return server;
}

/** Starts listening with LISTEN_BACKLOG; rejects when the port cannot be had. */
export function listenApi(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
