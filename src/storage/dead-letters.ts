/** Owns the SQL for dead letters: input ingest could not process, kept with the reason. */
import type { Queryable } from '../db/pool.js';

export interface DeadLetterRow {
  tenantId: string | null;
  topic: string;
  payload: Buffer;
  reason: string;
  error: string;
  decoder: string | null;
  devEui: string | null;
}

/**
 * Bytes of a payload a dead letter keeps; its size as received is kept beside it
 * (payload_size). A dead letter is written for whatever arrives, so without a cap one
 * client sending large junk (an MQTT packet may carry up to 256 MiB, MQTT 3.1.1 §2.2.3)
 * would grow the table by that much per message. 16 KiB still holds any genuine ChirpStack
 * event whole: a LoRaWAN frame carries at most 242 bytes of application payload (LoRaWAN
 * Regional Parameters RP002, the largest N of any data rate), and an uplink event's JSON
 * heard by a dozen gateways (one rxInfo entry each, a few hundred bytes) is about 5 KiB.
 */
export const DEAD_LETTER_PAYLOAD_MAX_BYTES = 16 * 1024;
/** Characters of a topic kept: ChirpStack's are under 100; an MQTT topic may be 65,535 bytes (MQTT 3.1.1 §1.5.3). */
export const DEAD_LETTER_TOPIC_MAX_CHARS = 1024;
/** Characters of an error message kept. */
const DEAD_LETTER_ERROR_MAX_CHARS = 2000;

/**
 * Inserts dead letters; all rows must share the transaction's tenant (or have none). The
 * one writer of the table, so every caller (MQTT batches, the webhook spool, HTTP inbound)
 * is capped here.
 */
export async function insertDeadLetters(c: Queryable, rows: DeadLetterRow[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO dead_letters (tenant_id, topic, payload, payload_size, reason, error, decoder, dev_eui)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[])`,
    [
      rows.map((x) => x.tenantId),
      rows.map((x) => x.topic.slice(0, DEAD_LETTER_TOPIC_MAX_CHARS)),
      // subarray shares the buffer: no copy of what is kept, and what is dropped is never sent.
      rows.map((x) => x.payload.subarray(0, DEAD_LETTER_PAYLOAD_MAX_BYTES)),
      rows.map((x) => x.payload.length),
      rows.map((x) => x.reason),
      rows.map((x) => x.error.slice(0, DEAD_LETTER_ERROR_MAX_CHARS)),
      rows.map((x) => x.decoder),
      rows.map((x) => x.devEui),
    ],
  );
}

/**
 * Deletes up to `limit` of the transaction tenant's dead letters older than `days`, oldest
 * first; with no tenant set, those ingest could not tie to any tenant (tenant_id NULL, the
 * ingest role's own policies in migrations/0020). An index finds either kind oldest first:
 * dead_letters_tenant_idx (tenant_id, received_at) a tenant's, the partial
 * dead_letters_untenanted_idx the others, which a literal `tenant_id IS NULL` selects and
 * `IS NOT DISTINCT FROM $1` would not; hence two fixed statements. The batch is
 * then deleted by primary key (`= ANY (ARRAY(…))`; `IN (…)` may hash-join it against a scan
 * of the whole table).
 */
export async function deleteDeadLettersOlderThan(c: Queryable, tenantId: string | null, days: number, limit: number): Promise<number> {
  const whose = tenantId === null ? 'tenant_id IS NULL' : 'tenant_id = $3::uuid';
  const r = await c.query(
    `DELETE FROM dead_letters WHERE id = ANY (ARRAY(
       SELECT id FROM dead_letters
        WHERE ${whose} AND received_at < now() - make_interval(days => $1)
        ORDER BY received_at LIMIT $2))`,
    tenantId === null ? [days, limit] : [days, limit, tenantId],
  );
  return r.rowCount ?? 0;
}

/** Bytes of a payload shown in a list: enough to recognise a ChirpStack event, bounded per row. */
export const PAYLOAD_PREVIEW_BYTES = 512;

export interface DeadLetterListRow {
  id: string;
  topic: string;
  reason: string;
  error: string;
  decoder: string | null;
  dev_eui: string | null;
  /** The payload's size as received. */
  payload_bytes: number;
  /** Bytes kept: fewer than payload_bytes when the payload was cut at DEAD_LETTER_PAYLOAD_MAX_BYTES. */
  payload_stored_bytes: number;
  payload_preview: Buffer;
  received_at: Date;
}

/**
 * The calling tenant's dead letters, newest first. RLS (migrations/0002_ingest.sql) limits
 * the rows to the transaction's tenant; those ingest could not tie to any tenant (tenant_id
 * NULL) are nobody's to read through the API.
 */
export async function listDeadLetters(
  c: Queryable,
  f: { reason?: string; dev_eui?: string },
  limit: number,
  offset: number,
): Promise<{ items: DeadLetterListRow[]; total: number }> {
  const where = `($1::text IS NULL OR reason = $1) AND ($2::text IS NULL OR lower(dev_eui) = lower($2))`;
  const params = [f.reason ?? null, f.dev_eui ?? null];
  const [rows, count] = await Promise.all([
    c.query<DeadLetterListRow>(
      `SELECT id::text, topic, reason, error, decoder, dev_eui, payload_size AS payload_bytes,
              octet_length(payload) AS payload_stored_bytes, substring(payload FROM 1 FOR ${PAYLOAD_PREVIEW_BYTES}) AS payload_preview, received_at
         FROM dead_letters WHERE ${where}
        ORDER BY received_at DESC, id DESC LIMIT $3 OFFSET $4`,
      [...params, limit, offset],
    ),
    c.query<{ n: string }>(`SELECT count(*) AS n FROM dead_letters WHERE ${where}`, params),
  ]);
  return { items: rows.rows, total: Number(count.rows[0]!.n) };
}
