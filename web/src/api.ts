/**
 * Owns talking to the baygate API from the browser: the session (tokens in
 * sessionStorage, so closing the tab logs out), JSON requests with one refresh on 401,
 * and the error shape `{"error": {"code", "message", "details"}}`.
 */

export interface User {
  id: string;
  email: string;
  username: string;
  tenant_name: string;
  tenant_slug: string;
  role: string;
}

interface Session {
  access_token: string;
  refresh_token: string;
  user: User;
}

export interface ErrorDetail {
  field?: string;
  message: string;
}

/** An API error as the server worded it (api/middleware/errors.ts). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[],
  ) {
    super(message);
  }
}

export interface Page<T> {
  items: T[];
  total: number;
}

const SESSION_KEY = 'baygate.session';

export function session(): Session | null {
  const raw = sessionStorage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return null;
  }
}

function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
}

export function accessToken(): string | null {
  return session()?.access_token ?? null;
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toError(status: number, body: unknown): ApiError {
  const e = (body as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | undefined)?.error;
  return new ApiError(status, e?.code ?? 'http_error', e?.message ?? `Request failed (HTTP ${status})`, e?.details ?? []);
}

export async function login(email: string, password: string): Promise<User> {
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = await parse(res);
  if (!res.ok) throw toError(res.status, body);
  saveSession(body as Session);
  return (body as Session).user;
}

export async function logout(): Promise<void> {
  const token = accessToken();
  saveSession(null);
  if (token) {
    // Ends the session server-side too; the page is logged out whatever the answer.
    await fetch('/api/auth/logout', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    }).catch(() => undefined);
  }
}

/** Exchanges the refresh token for a new pair; false (and logged out) when it is refused. */
export async function refresh(): Promise<boolean> {
  const s = session();
  if (!s) return false;
  const res = await fetch('/api/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: s.refresh_token }),
  });
  if (!res.ok) {
    saveSession(null);
    return false;
  }
  saveSession((await parse(res)) as Session);
  return true;
}

/** Called when the session is gone for good (refresh refused): the app shows the login form. */
let onLoggedOut: () => void = () => undefined;
export function whenLoggedOut(fn: () => void): void {
  onLoggedOut = fn;
}

export async function api<T>(method: string, path: string, json?: unknown, retried = false): Promise<T> {
  const headers: Record<string, string> = {};
  const token = accessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const body = await parse(res);
  if (res.status === 401 && !retried && token) {
    if (await refresh()) return api<T>(method, path, json, true);
    onLoggedOut();
  }
  if (!res.ok) throw toError(res.status, body);
  return body as T;
}

/** Query string from the defined values only. */
export function qs(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
