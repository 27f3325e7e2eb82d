/**
 * A small Server-Sent Events client for tests: connects with a token (header or query),
 * optionally a Last-Event-ID, and parses the stream as the HTML spec's event-stream
 * interpretation does (fields id/event/data/retry, comment lines, blank-line dispatch).
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { waitFor } from './wait.js';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
  /** data parsed as JSON. */
  json: any;
}

export interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** The response body when the server refused (non-200). */
  body: string;
  messages: SseMessage[];
  comments: string[];
  retry: number | null;
  ended: boolean;
  /** Resolves when at least n messages arrived. */
  waitForMessages(n: number, timeoutMs?: number): Promise<SseMessage[]>;
  close(): void;
}

export async function sseConnect(
  baseUrl: string,
  path: string,
  opts: { token?: string; lastEventId?: string | number; headers?: Record<string, string> } = {},
): Promise<SseClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
  return new Promise((resolve, reject) => {
    const req = request(baseUrl + path, { headers }, (res) => {
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: '',
        messages: [],
        comments: [],
        retry: null,
        ended: false,
        async waitForMessages(n, timeoutMs = 10_000) {
          await waitFor(() => client.messages.length >= n || client.ended, timeoutMs, `${n} SSE messages (have ${client.messages.length})`);
          if (client.messages.length < n) throw new Error(`stream ended after ${client.messages.length} of ${n} messages`);
          return client.messages.slice(0, n);
        },
        close() {
          req.destroy();
        },
      };
      res.setEncoding('utf8');
      res.on('end', () => (client.ended = true));
      res.on('close', () => (client.ended = true));
      res.on('error', () => (client.ended = true));
      if (client.status !== 200) {
        res.on('data', (chunk: string) => (client.body += chunk));
        res.on('end', () => resolve(client));
        return;
      }
      let buffer = '';
      let id: string | null = null;
      let event = '';
      let data: string[] = [];
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (data.length > 0) {
              const text = data.join('\n');
              let json: unknown;
              try {
                json = JSON.parse(text);
              } catch {
                json = undefined;
              }
              client.messages.push({ id, event: event || 'message', data: text, json });
            }
            event = '';
            data = [];
            continue;
          }
          if (line.startsWith(':')) {
            client.comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') id = value;
          else if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
          else if (field === 'retry') client.retry = Number(value);
        }
      });
      resolve(client);
    });
    req.on('error', reject);
    req.end();
  });
}
