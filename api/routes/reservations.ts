/**
 * Reservation routes: booking a space for a window (idempotent, never double-booked),
 * reading, cancelling, and a space's availability for a window.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { Pool } from '../../src/db/pool.js';
import { withTx } from '../../src/db/tx.js';
import { ConflictError, NotFoundError, UnprocessableError, ValidationError, type ErrorDetail } from '../../src/errors.js';
import { SPACE_STATES } from '../../src/domain/state-machine.js';
import { listOf, pageWindow, pagination, timestamp, uuid, type Page } from '../../src/schemas/common.js';
import type { DocumentedRoute } from '../../src/openapi.js';
import { activateNow, cancelReservation, type CancelOutcome } from '../../src/reservation-transitions.js';
import {
  RESERVATION_STATUSES,
  ReservationOverlap,
  conflictingReservations,
  createReservation,
  getReservation,
  listReservations,
  spaceForAvailability,
  type Conflict,
  type CreateOutcome,
  type Reservation,
  type ReservationFilter,
} from '../../src/storage/reservations.js';

const nullableString = (maxLength: number) => ({ type: ['string', 'null'], maxLength }) as const;
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' } as const;
const status = { type: 'string', enum: RESERVATION_STATUSES } as const;

/** Idempotency keys: the body's request_id or the Idempotency-Key header. */
const KEY_MAX_LENGTH = 255;
const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Availability without `to` looks this far ahead of `from`. */
const DEFAULT_AVAILABILITY_WINDOW_MS = 60 * 60 * 1000;

const createBody = {
  type: 'object',
  required: ['space_id', 'start_time', 'end_time'],
  properties: {
    space_id: uuid,
    start_time: timestamp,
    end_time: timestamp,
    user_email: { type: ['string', 'null'], format: 'email', maxLength: 320 },
    user_name: nullableString(200),
    notes: nullableString(2000),
    metadata: { type: 'object' },
    request_id: { type: 'string', minLength: 1, maxLength: KEY_MAX_LENGTH },
  },
} as const;

interface CreateBody {
  space_id: string;
  start_time: string;
  end_time: string;
  user_email?: string | null;
  user_name?: string | null;
  notes?: string | null;
  metadata?: Record<string, unknown>;
  request_id?: string;
}

const cancelBody = {
  type: 'object',
  properties: { cancellation_reason: nullableString(500) },
} as const;

const listQuery = {
  type: 'object',
  properties: { space_id: uuid, site_id: uuid, status, from: timestamp, to: timestamp, ...pagination },
} as const;

const availabilityQuery = {
  type: 'object',
  properties: { from: timestamp, to: timestamp },
} as const;

export const reservationSchema = {
  type: 'object',
  properties: {
    id: uuid,
    tenant_id: uuid,
    space_id: uuid,
    user_id: { type: ['string', 'null'], format: 'uuid' },
    user_email: { type: ['string', 'null'] },
    user_name: { type: ['string', 'null'] },
    start_time: timestamp,
    end_time: timestamp,
    status,
    checked_in: { type: 'boolean' },
    checked_in_at: nullableTimestamp,
    checked_out_at: nullableTimestamp,
    cancelled_at: nullableTimestamp,
    cancelled_by: { type: ['string', 'null'], format: 'uuid' },
    cancellation_reason: { type: ['string', 'null'] },
    notes: { type: ['string', 'null'] },
    metadata: { type: 'object' },
    request_id: { type: ['string', 'null'] },
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

const availabilitySchema = {
  type: 'object',
  properties: {
    space_id: uuid,
    from: timestamp,
    to: timestamp,
    is_available: { type: 'boolean' },
    current_state: { type: 'string', enum: SPACE_STATES },
    conflicting_reservations: { type: 'array', items: reservationSchema },
  },
} as const;

function invalid(field: string, message: string): ValidationError {
  return new ValidationError(`${field}: ${message}`, [{ field, message: `${field}: ${message}` }]);
}

/** JSON with object keys sorted at every level, so equal bodies hash equally whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * What a replay must repeat to be the same request: every field that shapes the
 * reservation, times as instants (so `Z` and `+00:00` spellings agree), absent and null alike.
 */
export function requestHash(b: CreateBody, start: Date, end: Date): string {
  const fields = {
    space_id: b.space_id.toLowerCase(),
    start_time: start.toISOString(),
    end_time: end.toISOString(),
    user_email: b.user_email ?? null,
    user_name: b.user_name ?? null,
    notes: b.notes ?? null,
    metadata: b.metadata ?? {},
  };
  return createHash('sha256').update(canonical(fields)).digest('hex');
}

/** The idempotency key and where it came from (for error details); the two places must agree. */
function idempotencyKey(ctx: Context, b: CreateBody): { key: string; field: string } | null {
  const header = ctx.get(IDEMPOTENCY_HEADER);
  if (header !== '' && (header.length > KEY_MAX_LENGTH || header.trim() === '')) {
    throw invalid(`header.${IDEMPOTENCY_HEADER}`, `must be 1 to ${KEY_MAX_LENGTH} characters`);
  }
  if (b.request_id !== undefined && header !== '' && header !== b.request_id) {
    throw invalid('body.request_id', `differs from the ${IDEMPOTENCY_HEADER} header; send one key`);
  }
  if (b.request_id !== undefined) return { key: b.request_id, field: 'body.request_id' };
  if (header !== '') return { key: header, field: `header.${IDEMPOTENCY_HEADER}` };
  return null;
}

function parseTime(field: string, value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw invalid(field, 'is not a valid date-time');
  return d;
}

function conflictDetails(conflicts: Conflict[]): ErrorDetail[] {
  return conflicts.map((r) => ({
    field: 'body.start_time',
    message: `overlaps reservation ${r.id} (${r.start_time.toISOString()} to ${r.end_time.toISOString()})`,
    reservation_id: r.id,
    start_time: r.start_time,
    end_time: r.end_time,
  }));
}

export function reservationRoutes(deps: {
  pool: Pool;
  reservationMaxHours: number;
  reservationPastSkewSeconds: number;
}): DocumentedRoute[] {
  const { pool } = deps;
  const maxMs = deps.reservationMaxHours * 3_600_000;

  const cancel = async (tenantId: string, userId: string, id: string, reason: string | null): Promise<Reservation> => {
    const out: CancelOutcome = await withTx(pool, { tenantId, userId }, (c) => cancelReservation(c, tenantId, id, userId, reason));
    switch (out.kind) {
      case 'missing':
        throw new NotFoundError('Reservation');
      case 'final':
        throw new ConflictError(`The reservation is already ${out.reservation.status}: there is nothing to cancel`, [
          { message: `status is ${out.reservation.status}`, status: out.reservation.status },
        ]);
      case 'cancelled':
        return out.reservation;
    }
  };

  return [
    {
      method: 'post', path: '/api/v6/reservations', tag: 'reservations', auth: 'operator',
      summary: 'Reserve a space for a window (idempotent with request_id or an Idempotency-Key header)',
      description:
        'The window is [start_time, end_time): back-to-back reservations are allowed, overlapping ones answer 409 ' +
        'with the conflicting reservations in `details`. Replaying an idempotency key with the same body answers 200 ' +
        'with the original reservation; with a different body, 422.',
      body: createBody, status: 201, response: reservationSchema,
      responses: { 200: { description: 'Replay of an idempotency key: the reservation it created', schema: reservationSchema } },
      handler: async (ctx, { body, principal }) => {
        const b = body as CreateBody;
        const key = idempotencyKey(ctx, b);
        const start = parseTime('body.start_time', b.start_time);
        const end = parseTime('body.end_time', b.end_time);
        if (end <= start) throw invalid('body.end_time', 'must be after body.start_time');
        if (end.getTime() - start.getTime() > maxMs) {
          throw invalid('body.end_time', `the window may last at most ${deps.reservationMaxHours} hours`);
        }
        const { tenantId, userId } = principal;
        let out: CreateOutcome;
        try {
          out = await withTx(pool, { tenantId, userId }, async (c) => {
            const o = await createReservation(c, {
              id: randomUUID(),
              tenantId,
              userId,
              spaceId: b.space_id,
              start,
              end,
              userEmail: b.user_email ?? null,
              userName: b.user_name ?? null,
              notes: b.notes ?? null,
              metadata: b.metadata ?? {},
              key: key?.key ?? null,
              requestHash: key ? requestHash(b, start, end) : null,
              pastSkewSeconds: deps.reservationPastSkewSeconds,
            });
            // A window that has already begun holds the space now, not at the next job tick.
            if (o.kind === 'created' && o.due) return { ...o, reservation: await activateNow(c, tenantId, o.reservation) };
            return o;
          });
        } catch (err) {
          if (!(err instanceof ReservationOverlap)) throw err;
          // When the exclusion constraint (not the statement's own check) caught it, look up
          // what it collided with: those reservations are committed.
          const conflicts =
            err.conflicts ?? (await withTx(pool, { tenantId }, (c) => conflictingReservations(c, err.spaceId, err.start, err.end)));
          throw new ConflictError('The space is already reserved for an overlapping window', conflictDetails(conflicts));
        }
        switch (out.kind) {
          case 'created':
            return out.reservation;
          case 'replay':
            ctx.status = 200;
            ctx.set('Idempotent-Replayed', 'true');
            ctx.body = out.reservation;
            return undefined;
          case 'key_mismatch': {
            const message = `${key!.field}: this idempotency key was used with a different request`;
            throw new UnprocessableError(message, [{ field: key!.field, message }]);
          }
          case 'space_missing':
            throw new NotFoundError('Space', 'body.space_id');
          case 'space_in_maintenance': {
            const message = 'body.space_id: the space is in maintenance (or disabled) and cannot be reserved';
            throw new ConflictError(message, [{ field: 'body.space_id', message }]);
          }
          case 'start_in_past':
            throw invalid('body.start_time', `must not be more than ${deps.reservationPastSkewSeconds} s in the past`);
        }
      },
    },
    {
      method: 'get', path: '/api/v6/reservations', tag: 'reservations', auth: 'viewer',
      summary: 'List reservations (filters: space, site, status, window overlapping from..to)',
      query: listQuery, response: listOf(reservationSchema),
      handler: async (_ctx, { query, principal }) => {
        const q = query as Page & ReservationFilter;
        if (q.from && q.to && new Date(q.to) <= new Date(q.from)) throw invalid('query.to', 'must be after query.from');
        const { limit, offset } = pageWindow(q);
        const filter: ReservationFilter = { space_id: q.space_id, site_id: q.site_id, status: q.status, from: q.from, to: q.to };
        const page = await withTx(pool, { tenantId: principal.tenantId }, (c) => listReservations(c, filter, limit, offset));
        return { ...page, page: q.page, page_size: q.page_size };
      },
    },
    {
      method: 'get', path: '/api/v6/reservations/:id', tag: 'reservations', auth: 'viewer',
      summary: 'Get a reservation', response: reservationSchema,
      handler: async (_ctx, { params, principal }) => {
        const r = await withTx(pool, { tenantId: principal.tenantId }, (c) => getReservation(c, params.id!));
        if (!r) throw new NotFoundError('Reservation');
        return r;
      },
    },
    {
      method: 'put', path: '/api/v6/reservations/:id/cancel', tag: 'reservations', auth: 'operator',
      summary: 'Cancel a reservation (releases its space at once; cancelling again answers the same)',
      body: cancelBody, response: reservationSchema,
      handler: async (_ctx, { body, params, principal }) =>
        cancel(principal.tenantId, principal.userId, params.id!, (body as { cancellation_reason?: string | null }).cancellation_reason ?? null),
    },
    {
      method: 'delete', path: '/api/v6/reservations/:id', tag: 'reservations', auth: 'operator',
      summary: 'Cancel a reservation (same as PUT /cancel)', response: reservationSchema,
      handler: async (_ctx, { params, principal }) => cancel(principal.tenantId, principal.userId, params.id!, null),
    },
    {
      method: 'get', path: '/api/v6/spaces/:id/availability', tag: 'reservations', auth: 'viewer',
      summary: 'Whether a space can be reserved for a window (from defaults to now, to to an hour after from)',
      query: availabilityQuery, response: availabilitySchema,
      handler: async (_ctx, { query, params, principal }) => {
        const q = query as { from?: string; to?: string };
        const from = q.from ? parseTime('query.from', q.from) : new Date();
        const to = q.to ? parseTime('query.to', q.to) : new Date(from.getTime() + DEFAULT_AVAILABILITY_WINDOW_MS);
        if (to <= from) throw invalid('query.to', 'must be after query.from');
        const { space, conflicts } = await withTx(pool, { tenantId: principal.tenantId }, async (c) => ({
          space: await spaceForAvailability(c, params.id!),
          conflicts: await conflictingReservations(c, params.id!, from, to),
        }));
        if (!space) throw new NotFoundError('Space');
        return {
          space_id: params.id!,
          from,
          to,
          is_available: space.in_service && conflicts.length === 0,
          current_state: space.current_state,
          conflicting_reservations: conflicts,
        };
      },
    },
  ];
}
