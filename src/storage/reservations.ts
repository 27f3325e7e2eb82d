/**
 * Owns the SQL for reservations and their idempotency keys: creation (one statement that
 * claims the key, serialises bookings of the space and inserts), reads, cancellation,
 * check-in facts, and the time-driven status changes the jobs apply across tenants.
 *
 * Rule kept by every writer here: a reservation's status and check-in facts change only
 * while its space is locked (src/storage/space-state.ts lockSpaces), so the state machine
 * always reads the reservation that holds a space as it is.
 */
import type { Queryable } from '../db/pool.js';
import type { Effect, SpaceState } from '../domain/state-machine.js';

export const RESERVATION_STATUSES = ['pending', 'active', 'completed', 'cancelled', 'expired', 'no_show'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/** Statuses in which a reservation still holds (or will hold) its space; the exclusion constraint covers these. */
export const HOLDING_STATUSES: readonly ReservationStatus[] = ['pending', 'active'];

/** Idempotency keys are kept at least this long (the promise to clients). */
export const IDEMPOTENCY_KEY_RETENTION_HOURS = 24;

/**
 * Namespace of the transaction-level advisory lock that serialises bookings of one space
 * (two-key form, so it never collides with the single-key locks in src/events.ts and
 * src/db/migrate.ts). Without it, two concurrent inserts of overlapping windows each wait
 * for the other's in-progress row in the exclusion check and deadlock; PostgreSQL breaks
 * that after deadlock_timeout (1 s), which is a latency spike and a retry for every pair.
 */
const BOOKING_LOCK_NAMESPACE = 727_004;

const COLUMNS = `r.id, r.tenant_id, r.space_id, r.user_id, r.user_email, r.user_name, r.start_time, r.end_time, r.status,
  r.checked_in, r.checked_in_at, r.checked_out_at, r.cancelled_at, r.cancelled_by, r.cancellation_reason, r.notes,
  r.metadata, r.request_id, r.created_at, r.updated_at`;

interface ReservationRow {
  id: string;
  tenant_id: string;
  space_id: string;
  user_id: string | null;
  user_email: string | null;
  user_name: string | null;
  start_time: Date;
  end_time: Date;
  status: ReservationStatus;
  checked_in: boolean;
  checked_in_at: Date | null;
  checked_out_at: Date | null;
  cancelled_at: Date | null;
  cancelled_by: string | null;
  cancellation_reason: string | null;
  notes: string | null;
  metadata: Record<string, unknown>;
  request_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A reservation as the API shows it. */
export function reservationJson(r: ReservationRow) {
  return {
    id: r.id,
    tenant_id: r.tenant_id,
    space_id: r.space_id,
    user_id: r.user_id,
    user_email: r.user_email,
    user_name: r.user_name,
    start_time: r.start_time,
    end_time: r.end_time,
    status: r.status,
    checked_in: r.checked_in,
    checked_in_at: r.checked_in_at,
    checked_out_at: r.checked_out_at,
    cancelled_at: r.cancelled_at,
    cancelled_by: r.cancelled_by,
    cancellation_reason: r.cancellation_reason,
    notes: r.notes,
    metadata: r.metadata,
    request_id: r.request_id,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

export type Reservation = ReturnType<typeof reservationJson>;

// ---------------------------------------------------------------------------------------
// Creation

export interface NewReservation {
  /** Chosen by the caller, so the idempotency key can name it before the row exists. */
  id: string;
  tenantId: string;
  userId: string;
  spaceId: string;
  start: Date;
  end: Date;
  userEmail: string | null;
  userName: string | null;
  notes: string | null;
  metadata: Record<string, unknown>;
  /** Idempotency key and the hash of the request it came with; null when the client sent none. */
  key: string | null;
  requestHash: string | null;
  /** How far in the past (database time) the start may lie. */
  pastSkewSeconds: number;
}

export type CreateOutcome =
  /** `due`: the window has already begun (database time): the caller activates it now. */
  | { kind: 'created'; reservation: Reservation; due: boolean }
  | { kind: 'replay'; reservation: Reservation }
  | { kind: 'key_mismatch' }
  | { kind: 'space_missing' }
  | { kind: 'space_in_maintenance' }
  | { kind: 'start_in_past' };

/** A reservation a new window collided with. */
export interface Conflict {
  id: string;
  start_time: Date;
  end_time: Date;
}

/**
 * Raised when the window overlaps reservations that hold the space. Thrown (not returned)
 * so the transaction rolls back, taking a claimed idempotency key with it. `conflicts` is
 * null when the exclusion constraint caught a collision the statement could not see (one
 * committed while it waited): the caller looks them up afresh.
 */
export class ReservationOverlap extends Error {
  constructor(
    readonly spaceId: string,
    readonly start: Date,
    readonly end: Date,
    readonly conflicts: Conflict[] | null,
  ) {
    super('the space is already reserved for an overlapping window');
    this.name = 'ReservationOverlap';
  }
}

const OVERLAP_CONSTRAINT = 'reservations_no_overlap';

/**
 * Creates a reservation in one statement:
 *   - `ok`: the space is live, in service and the start is not too far in the past;
 *   - `claim`: the idempotency key, if any, is inserted; a concurrent request with the same
 *     key waits here for the first to commit or roll back (unique-index insertion);
 *   - `booking`: only then, the per-space advisory lock, so the exclusion check never waits
 *     on another in-progress booking (see BOOKING_LOCK_NAMESPACE); it depends on `claim`
 *     so no transaction holds a space lock while waiting for a key;
 *   - `conflicts`: reservations already holding the space in the window, so the usual
 *     collision (with a booking made earlier) is answered without an error and a second
 *     transaction; the exclusion constraint stays the authority for the rest;
 *   - the insert, when nothing conflicts.
 * When nothing was inserted, follow-up reads say why: a replay, a reused key, or the space.
 */
export async function createReservation(c: Queryable, n: NewReservation): Promise<CreateOutcome> {
  let row: (Partial<ReservationRow> & { due: boolean | null; conflicts: { id: string; start_time: string; end_time: string }[] | null }) | undefined;
  try {
    const r = await c.query({
      // Prepared once per connection: planning this statement cost as much as running it
      // (pg_stat_statements under bench:reservations: 0.30 ms plan, 0.35 ms execution).
      name: 'reservation_create',
      text: `WITH ok AS (
         SELECT s.id FROM spaces s
          WHERE s.id = $3 AND s.deleted_at IS NULL AND s.enabled AND NOT s.maintenance
            AND $7::timestamptz >= now() - make_interval(secs => $14::int)
       ), claim AS (
         INSERT INTO idempotency_keys (tenant_id, key, request_hash, reservation_id)
         SELECT $2, $12, $13, $1 FROM ok WHERE $12::text IS NOT NULL
         ON CONFLICT (tenant_id, key) DO NOTHING
         RETURNING 1
       ), booking AS (
         SELECT pg_advisory_xact_lock(${BOOKING_LOCK_NAMESPACE}, hashtext(ok.id::text)) AS locked
           FROM ok WHERE $12::text IS NULL OR EXISTS (SELECT 1 FROM claim)
       ), conflicts AS (
         SELECT r.id, r.start_time, r.end_time FROM reservations r
          WHERE r.space_id = $3 AND r.status IN ('pending', 'active') AND EXISTS (SELECT 1 FROM booking)
            AND tstzrange(r.start_time, r.end_time, '[)') && tstzrange($7, $8, '[)')
       ), ins AS (
         INSERT INTO reservations AS r (id, tenant_id, space_id, user_id, user_email, user_name, start_time, end_time,
                                        notes, metadata, request_id)
         SELECT $1, $2, ok.id, $4, $5, $6, $7, $8, $9, $10, $11 FROM ok, booking
          WHERE NOT EXISTS (SELECT 1 FROM conflicts)
         RETURNING ${COLUMNS}
       )
       SELECT ins.*, ins.start_time <= now() AS due,
              (SELECT jsonb_agg(jsonb_build_object('id', id, 'start_time', start_time, 'end_time', end_time)
                                ORDER BY start_time, id) FROM conflicts) AS conflicts
         FROM (SELECT 1) one LEFT JOIN ins ON true`,
      values: [
        n.id,
        n.tenantId,
        n.spaceId,
        n.userId,
        n.userEmail,
        n.userName,
        n.start,
        n.end,
        n.notes,
        JSON.stringify(n.metadata),
        n.key,
        n.key,
        n.requestHash,
        n.pastSkewSeconds,
      ],
    });
    row = r.rows[0];
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23P01' && e.constraint === OVERLAP_CONSTRAINT) throw new ReservationOverlap(n.spaceId, n.start, n.end, null);
    throw err;
  }
  if (row?.conflicts) {
    const conflicts = row.conflicts.map((x) => ({ id: x.id, start_time: new Date(x.start_time), end_time: new Date(x.end_time) }));
    throw new ReservationOverlap(n.spaceId, n.start, n.end, conflicts);
  }
  if (row?.id) {
    const { due, conflicts: _none, ...inserted } = row;
    return { kind: 'created', reservation: reservationJson(inserted as ReservationRow), due: due === true };
  }

  if (n.key !== null) {
    const k = await c.query<{ request_hash: string; reservation_id: string }>(
      `SELECT request_hash, reservation_id FROM idempotency_keys WHERE key = $1`,
      [n.key],
    );
    const hit = k.rows[0];
    if (hit) {
      if (hit.request_hash !== n.requestHash) return { kind: 'key_mismatch' };
      const original = await getReservation(c, hit.reservation_id);
      if (original) return { kind: 'replay', reservation: original };
    }
  }
  const s = await c.query<{ in_service: boolean; start_ok: boolean }>(
    `SELECT enabled AND NOT maintenance AS in_service,
            $2::timestamptz >= now() - make_interval(secs => $3::int) AS start_ok
       FROM spaces WHERE id = $1 AND deleted_at IS NULL`,
    [n.spaceId, n.start, n.pastSkewSeconds],
  );
  const space = s.rows[0];
  if (!space) return { kind: 'space_missing' };
  if (!space.in_service) return { kind: 'space_in_maintenance' };
  if (!space.start_ok) return { kind: 'start_in_past' };
  // Every condition holds now, so the space changed (left maintenance) between the two
  // statements: run the transaction again.
  throw new RetryTransaction('the space changed while the reservation was being created');
}

/**
 * Thrown when a transaction read moving data and must be run again; withTx (src/db/tx.ts)
 * retries errors whose code is a serialization failure.
 */
export class RetryTransaction extends Error {
  readonly code = '40001';
  constructor(message: string) {
    super(message);
    this.name = 'RetryTransaction';
  }
}

// ---------------------------------------------------------------------------------------
// Reads

export async function getReservation(c: Queryable, id: string, opts: { forUpdate?: boolean } = {}): Promise<Reservation | null> {
  const r = await c.query<ReservationRow>(
    `SELECT ${COLUMNS} FROM reservations r WHERE r.id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return r.rows[0] ? reservationJson(r.rows[0]) : null;
}

export interface ReservationFilter {
  space_id?: string;
  site_id?: string;
  status?: ReservationStatus;
  /** Reservations whose window overlaps [from, to). */
  from?: string;
  to?: string;
}

export async function listReservations(
  c: Queryable,
  f: ReservationFilter,
  limit: number,
  offset: number,
): Promise<{ items: Reservation[]; total: number }> {
  // A filter left null matches every row.
  const where = `($1::uuid IS NULL OR r.space_id = $1)
    AND ($2::uuid IS NULL OR r.space_id IN (SELECT s.id FROM spaces s WHERE s.site_id = $2))
    AND ($3::text IS NULL OR r.status = $3)
    AND ($4::timestamptz IS NULL OR r.end_time > $4)
    AND ($5::timestamptz IS NULL OR r.start_time < $5)`;
  const params = [f.space_id ?? null, f.site_id ?? null, f.status ?? null, f.from ?? null, f.to ?? null];
  const [rows, count] = await Promise.all([
    c.query<ReservationRow>(
      `SELECT ${COLUMNS} FROM reservations r WHERE ${where} ORDER BY r.start_time, r.id LIMIT $6 OFFSET $7`,
      [...params, limit, offset],
    ),
    c.query<{ n: number }>(`SELECT count(*) AS n FROM reservations r WHERE ${where}`, params),
  ]);
  return { items: rows.rows.map(reservationJson), total: count.rows[0]!.n };
}

/** Reservations that hold the space at some time in [from, to) (what a new booking there would conflict with). */
export async function conflictingReservations(c: Queryable, spaceId: string, from: Date, to: Date): Promise<Reservation[]> {
  const r = await c.query<ReservationRow>(
    `SELECT ${COLUMNS} FROM reservations r
      WHERE r.space_id = $1 AND r.status IN ('pending', 'active')
        AND tstzrange(r.start_time, r.end_time, '[)') && tstzrange($2, $3, '[)')
      ORDER BY r.start_time, r.id`,
    [spaceId, from, to],
  );
  return r.rows.map(reservationJson);
}

export interface SpaceAvailability {
  current_state: SpaceState;
  in_service: boolean;
}

/** The space as availability needs it; null when it does not exist in the tenant or is deleted. */
export async function spaceForAvailability(c: Queryable, spaceId: string): Promise<SpaceAvailability | null> {
  const r = await c.query<SpaceAvailability>(
    `SELECT current_state, enabled AND NOT maintenance AS in_service FROM spaces WHERE id = $1 AND deleted_at IS NULL`,
    [spaceId],
  );
  return r.rows[0] ?? null;
}

/** The space a reservation is for, without locking anything (to lock the space first). */
/** Reservations that still hold the space (pending or active), earliest first. */
export async function holdingReservationIds(c: Queryable, spaceId: string): Promise<string[]> {
  const r = await c.query<{ id: string }>(
    `SELECT id FROM reservations WHERE space_id = $1 AND status IN ('pending', 'active') ORDER BY start_time, id`,
    [spaceId],
  );
  return r.rows.map((x) => x.id);
}

export async function reservationSpaceId(c: Queryable, id: string): Promise<string | null> {
  const r = await c.query<{ space_id: string }>(`SELECT space_id FROM reservations WHERE id = $1`, [id]);
  return r.rows[0]?.space_id ?? null;
}

// ---------------------------------------------------------------------------------------
// Status changes (callers hold the space lock)

/** pending → active for one reservation whose window has begun (database time); false if it was not pending. */
export async function markActive(c: Queryable, id: string): Promise<boolean> {
  const r = await c.query(
    `UPDATE reservations SET status = 'active', updated_at = now()
      WHERE id = $1 AND status = 'pending' AND start_time <= now()`,
    [id],
  );
  return (r.rowCount ?? 0) > 0;
}

/**
 * Cancels a reservation that still holds its space; returns the status it had, or null
 * when it was no longer pending or active (nothing changed).
 */
export async function markCancelled(
  c: Queryable,
  id: string,
  by: string,
  reason: string | null,
): Promise<{ before: ReservationStatus; reservation: Reservation } | null> {
  const r = await c.query<ReservationRow & { before: ReservationStatus }>(
    `WITH prev AS (SELECT id, status FROM reservations WHERE id = $1 AND status IN ('pending', 'active') FOR UPDATE)
     UPDATE reservations r SET status = 'cancelled', cancelled_at = now(), cancelled_by = $2,
            cancellation_reason = $3, updated_at = now()
       FROM prev WHERE r.id = prev.id
     RETURNING ${COLUMNS}, prev.status AS before`,
    [id, by, reason],
  );
  const row = r.rows[0];
  if (!row) return null;
  const { before, ...rest } = row;
  return { before, reservation: reservationJson(rest) };
}

/**
 * Folds state-machine effects into one check-in/out row per reservation (a batch may both
 * check a reservation in and out), each at the time of the input that caused it.
 */
export function checkInOutFromEffects(effects: { effect: Effect; at: Date }[]): CheckInOut[] {
  const rows = new Map<string, CheckInOut>();
  for (const { effect, at } of effects) {
    const row = rows.get(effect.reservationId) ?? { reservationId: effect.reservationId, checkedInAt: null, checkedOutAt: null };
    if (effect.type === 'check_in') row.checkedInAt ??= at;
    else row.checkedOutAt ??= at;
    rows.set(effect.reservationId, row);
  }
  return [...rows.values()];
}

export interface CheckInOut {
  reservationId: string;
  /** When the sensor first reported the space occupied during the window. */
  checkedInAt: Date | null;
  /** When it reported the space vacated after that. */
  checkedOutAt: Date | null;
}

/**
 * Records check-ins and check-outs (effects of the state machine), one row per reservation.
 * A reservation keeps its first check-in and first check-out; a check-in never predates the
 * window (a frame received before activation but applied after it). `r.id = ANY($1)`: the
 * batch's rows by index, not a scan of all reservations (see writeDeviceHealth).
 */
export async function recordCheckInOut(c: Queryable, rows: CheckInOut[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `UPDATE reservations r SET
        checked_in = r.checked_in OR x.in_at IS NOT NULL,
        checked_in_at = coalesce(r.checked_in_at, greatest(x.in_at, r.start_time)),
        checked_out_at = coalesce(r.checked_out_at, x.out_at),
        updated_at = now()
       FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS x(id, in_at, out_at)
      WHERE r.id = x.id AND r.id = ANY($1::uuid[]) AND r.status = 'active'
        AND (x.out_at IS NULL OR r.checked_in OR x.in_at IS NOT NULL)`,
    [rows.map((x) => x.reservationId), rows.map((x) => x.checkedInAt), rows.map((x) => x.checkedOutAt)],
  );
}

// ---------------------------------------------------------------------------------------
// Time-driven changes, across tenants (the ingest role reads every tenant's reservations)

/** What is due for a reservation now. */
export type DueAction = 'activate' | 'no_show' | 'end';

export interface DueReservation {
  id: string;
  tenantId: string;
  spaceId: string;
  status: 'pending' | 'active';
  action: DueAction;
  /** When it became due: the start, the no-show deadline or the end. */
  dueAt: Date;
}

/**
 * The no-show deadline: start plus the space's auto_release_minutes, else the tenant's
 * settings.auto_release_minutes, else the configured default ($1). Needs `r`, `s`, `t`.
 */
const NO_SHOW_AT = `r.start_time + make_interval(mins => coalesce(
    s.auto_release_minutes,
    CASE WHEN t.settings->>'auto_release_minutes' ~ '^[0-9]{1,4}$' THEN (t.settings->>'auto_release_minutes')::int END,
    $1::int))`;

/**
 * Reservations due for a change now (database time), oldest due first, and the database
 * time they were judged at:
 *   - pending whose start has come → activate (a window that has already ended → end);
 *   - active, never checked in, past the no-show deadline (when that falls inside the window) → no_show;
 *   - active past its end → end (completed if checked in, else expired).
 * A pending reservation is activated even when its no-show deadline has passed (the job
 * was not running): activation checks it in if the space is occupied, and the no-show
 * follows in the next pass, so the history reads as it would have.
 */
export async function dueReservations(
  c: Queryable,
  noShowDefaultMinutes: number,
  limit: number,
): Promise<{ now: Date; due: DueReservation[] }> {
  const r = await c.query<{
    now: Date;
    id: string | null;
    tenant_id: string;
    space_id: string;
    status: 'pending' | 'active';
    action: DueAction;
    due_at: Date;
  }>(
    `WITH due AS (
       SELECT r.id, r.tenant_id, r.space_id, r.status,
              CASE WHEN r.end_time <= now() THEN 'end' ELSE 'activate' END AS action,
              CASE WHEN r.end_time <= now() THEN r.end_time ELSE r.start_time END AS due_at
         FROM reservations r
        WHERE r.status = 'pending' AND r.start_time <= now()
       UNION ALL
       SELECT r.id, r.tenant_id, r.space_id, r.status,
              CASE WHEN no_show THEN 'no_show' ELSE 'end' END,
              CASE WHEN no_show THEN no_show_at ELSE r.end_time END
         FROM reservations r
         JOIN spaces s ON s.id = r.space_id
         JOIN tenants t ON t.id = r.tenant_id
        CROSS JOIN LATERAL (SELECT ${NO_SHOW_AT} AS no_show_at) d
        CROSS JOIN LATERAL (SELECT NOT r.checked_in AND d.no_show_at <= now() AND d.no_show_at < r.end_time AS no_show) n
        WHERE r.status = 'active' AND (n.no_show OR r.end_time <= now())
     )
     SELECT now() AS now, due.* FROM (SELECT 1) one
       -- Ends before starts at the same instant: back-to-back windows hand the space over.
       LEFT JOIN LATERAL (SELECT * FROM due ORDER BY due_at, action = 'activate', id LIMIT $2) due ON true`,
    [noShowDefaultMinutes, limit],
  );
  const now = r.rows[0]!.now;
  const due = r.rows
    .filter((x) => x.id !== null)
    .map((x) => ({ id: x.id!, tenantId: x.tenant_id, spaceId: x.space_id, status: x.status, action: x.action, dueAt: x.due_at }));
  return { now, due };
}

/**
 * Milliseconds (database time) until the next reservation change falls due: a start, an end
 * or a no-show deadline. Negative when one is overdue; null when nothing is pending or active.
 */
export async function msUntilNextDue(c: Queryable, noShowDefaultMinutes: number): Promise<number | null> {
  const r = await c.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM least(
        (SELECT min(start_time) FROM reservations WHERE status = 'pending'),
        (SELECT min(end_time) FROM reservations WHERE status = 'active'),
        (SELECT min(${NO_SHOW_AT}) FROM reservations r
           JOIN spaces s ON s.id = r.space_id JOIN tenants t ON t.id = r.tenant_id
          WHERE r.status = 'active' AND NOT r.checked_in)
      ) - now()) * 1000)::float8 AS ms`,
    [noShowDefaultMinutes],
  );
  return r.rows[0]?.ms ?? null;
}

/**
 * Applies due actions of one tenant (under its setting, spaces locked), each only if the
 * reservation is still as it was judged: a check-in that landed in between cancels a
 * no-show; a cancellation cancels everything. Returns the ones that changed, with their new
 * status. `r.id = ANY($1)`: by index, not a scan of all reservations (see writeDeviceHealth).
 */
export async function applyDueActions(
  c: Queryable,
  actions: { id: string; action: DueAction; from: 'pending' | 'active' }[],
): Promise<Map<string, ReservationStatus>> {
  if (actions.length === 0) return new Map();
  const r = await c.query<{ id: string; status: ReservationStatus }>(
    `UPDATE reservations r SET
        status = CASE x.action WHEN 'activate' THEN 'active' WHEN 'no_show' THEN 'no_show'
                 ELSE CASE WHEN r.checked_in THEN 'completed' ELSE 'expired' END END,
        updated_at = now()
       FROM unnest($1::uuid[], $2::text[], $3::text[]) AS x(id, action, from_status)
      WHERE r.id = x.id AND r.id = ANY($1::uuid[]) AND r.status = x.from_status
        AND (x.action <> 'no_show' OR NOT r.checked_in)
        AND (x.action <> 'activate' OR r.start_time <= now())
        AND (x.action <> 'end' OR r.end_time <= now())
     RETURNING r.id, r.status`,
    [actions.map((a) => a.id), actions.map((a) => a.action), actions.map((a) => a.from)],
  );
  return new Map(r.rows.map((x) => [x.id, x.status]));
}

/** Deletes the current tenant's idempotency keys older than the retention; returns how many. */
export async function deleteExpiredIdempotencyKeys(c: Queryable, limit: number): Promise<number> {
  const r = await c.query(
    `DELETE FROM idempotency_keys WHERE (tenant_id, key) IN (
       SELECT tenant_id, key FROM idempotency_keys
        WHERE created_at < now() - make_interval(hours => $1) LIMIT $2)`,
    [IDEMPOTENCY_KEY_RETENTION_HOURS, limit],
  );
  return r.rowCount ?? 0;
}
