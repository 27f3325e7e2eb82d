/**
 * Owns the WebSocket side of live clients (`GET /api/v6/ws`): the HTTP upgrade with the
 * same authentication and query as the SSE route, and the sink that writes one JSON
 * message per event: {"id", "event", "data"} (the SSE fields, as JSON).
 *
 * The token comes as ?access_token= or in Sec-WebSocket-Protocol, because browsers cannot
 * set headers on a WebSocket either: `new WebSocket(url, ['bearer', token])`; the server
 * then answers with the `bearer` subprotocol (RFC 6455 §4.2.2 requires it to choose one
 * the client offered). An Authorization header works for other clients.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import jwt from 'jsonwebtoken';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Pool } from '../../src/db/pool.js';
import type { Logger } from '../../src/log.js';
import { AppError, NotFoundError, UnauthorizedError } from '../../src/errors.js';
import { translatePgError } from '../../src/db/errors.js';
import { asAccessClaims, hmacKey, JWT_ALGORITHM } from '../../src/auth/tokens.js';
import { compile } from '../../src/schemas/validator.js';
import { withoutTrailingSlashes } from '../middleware/trailing-slash.js';
import { findSessionPrincipal } from '../../src/storage/users.js';
import { roleAtLeast } from '../../src/auth/roles.js';
import type { Batch, CloseReason, LiveHub, Sink } from './hub.js';
import { filterOf, liveQuerySchema, resumeId, type LiveQuery } from './filter.js';

export const WS_PATH = '/api/v6/ws';
const BEARER_PROTOCOL = 'bearer';
/** Clients have nothing to send but pongs and a close; anything bigger is not one of ours. */
const MAX_INBOUND_BYTES = 4_096;

/** Close codes (RFC 6455 §7.4.1; 4000–4999 are the application's). */
const CLOSE_GOING_AWAY = 1001;
const CLOSE_TRY_AGAIN_LATER = 1013;
const CLOSE_TOKEN_EXPIRED = 4401;

export class WsSink implements Sink {
  readonly transport = 'ws' as const;
  private alive = true;

  constructor(private readonly ws: WebSocket) {
    ws.on('pong', () => {
      this.alive = true;
    });
  }

  send(batch: Batch): number {
    if (this.ws.readyState !== this.ws.OPEN) return 0;
    let bytes = 0;
    for (const e of batch.events) {
      this.ws.send(e.ws, { binary: false }); // a text message, from bytes encoded once
      bytes += e.ws.length;
    }
    return bytes;
  }

  heartbeat(): void {
    // A peer that did not answer the previous ping is gone without a close (RFC 6455 §5.5.2).
    if (!this.alive) {
      this.ws.terminate();
      return;
    }
    this.alive = false;
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  buffered(): number {
    return this.ws.bufferedAmount;
  }

  close(reason: CloseReason): void {
    if (reason === 'slow') this.ws.terminate();
    else if (reason === 'expired') this.ws.close(CLOSE_TOKEN_EXPIRED, 'token expired');
    else this.ws.close(CLOSE_GOING_AWAY, 'server shutting down');
  }
}

function tokenOf(req: IncomingMessage, url: URL): string | null {
  const q = url.searchParams.get('access_token');
  if (q) return q;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const i = offered.indexOf(BEARER_PROTOCOL);
  if (i >= 0 && offered[i + 1]) return offered[i + 1]!;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1]! : null;
}

/** Answers a refused upgrade with the API's error body, then closes the socket. */
function refuse(socket: Duplex, err: unknown): void {
  const e = translatePgError(err);
  const app = e instanceof AppError ? e : new AppError(500, 'internal_error', 'Internal server error');
  const body = JSON.stringify({ error: { code: app.code, message: app.message, details: app.details } });
  socket.end(
    `HTTP/1.1 ${app.status} ${STATUS_CODES[app.status] ?? ''}\r\n` +
      'Content-Type: application/json\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export interface WsDeps {
  hub: LiveHub;
  pool: Pool;
  jwtSecret: string;
  log: Logger;
}

export interface WsEndpoint {
  /** The http server's 'upgrade' listener. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

export function wsEndpoint(deps: WsDeps): WsEndpoint {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_INBOUND_BYTES,
    handleProtocols: (offered) => (offered.has(BEARER_PROTOCOL) ? BEARER_PROTOCOL : false),
  });
  const validate = compile<LiveQuery>('query', liveQuerySchema);

  const key = hmacKey(deps.jwtSecret);
  async function authorise(req: IncomingMessage, url: URL) {
    const token = tokenOf(req, url);
    if (!token) throw new UnauthorizedError();
    let payload: unknown;
    try {
      payload = jwt.verify(token, key, { algorithms: [JWT_ALGORITHM] });
    } catch {
      throw new UnauthorizedError();
    }
    const claims = asAccessClaims(payload);
    const principal = await findSessionPrincipal(deps.pool, claims);
    if (!principal) throw new UnauthorizedError('Session is no longer valid');
    const exp = (payload as { exp?: number }).exp;
    return { tenantId: principal.tenantId, admin: roleAtLeast(principal.role, 'admin'), expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
  }

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (withoutTrailingSlashes(url.pathname) !== WS_PATH) throw new NotFoundError('Route');
    const who = await authorise(req, url);
    const query = validate(Object.fromEntries(url.searchParams));
    const lastEventId = resumeId(req.headers['last-event-id'] as string | undefined, query);
    // handleUpgrade answers a malformed handshake itself and then never calls back.
    wss.handleUpgrade(req, socket, head, (ws) => {
      const sink = new WsSink(ws);
      let unsubscribe: (() => void) | null = null;
      let closed = false;
      ws.on('error', (err) => deps.log.debug({ err: err.message }, 'websocket client error'));
      ws.on('close', () => {
        closed = true;
        unsubscribe?.();
      });
      deps.hub
        .subscribe({ tenantId: who.tenantId, sink, filter: filterOf(query), lastEventId, expiresAt: who.expiresAt, admin: who.admin })
        .then((remove) => {
          unsubscribe = remove;
          if (closed) remove();
        })
        .catch((err) => {
          deps.log.warn({ err }, 'websocket subscription failed');
          ws.close(CLOSE_TRY_AGAIN_LATER, 'live events unavailable');
        });
    });
  }

  return {
    upgrade(req, socket, head) {
      socket.on('error', (err) => deps.log.debug({ err: err.message }, 'websocket upgrade socket error'));
      accept(req, socket, head).catch((err) => {
        if (!(err instanceof AppError)) deps.log.warn({ err }, 'websocket upgrade failed');
        refuse(socket, err);
      });
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
