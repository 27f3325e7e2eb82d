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

/** Inserts dead letters; all rows must share the transaction's tenant (or have none). */
export async function insertDeadLetters(c: Queryable, rows: DeadLetterRow[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO dead_letters (tenant_id, topic, payload, reason, error, decoder, dev_eui)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[])`,
    [
      rows.map((x) => x.tenantId),
      rows.map((x) => x.topic),
      rows.map((x) => x.payload),
      rows.map((x) => x.reason),
      rows.map((x) => x.error.slice(0, 2000)),
      rows.map((x) => x.decoder),
      rows.map((x) => x.devEui),
    ],
  );
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
  payload_bytes: number;
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
      `SELECT id::text, topic, reason, error, decoder, dev_eui, octet_length(payload) AS payload_bytes,
              substring(payload FROM 1 FOR ${PAYLOAD_PREVIEW_BYTES}) AS payload_preview, received_at
         FROM dead_letters WHERE ${where}
        ORDER BY received_at DESC, id DESC LIMIT $3 OFFSET $4`,
      [...params, limit, offset],
    ),
    c.query<{ n: string }>(`SELECT count(*) AS n FROM dead_letters WHERE ${where}`, params),
  ]);
  return { items: rows.rows, total: Number(count.rows[0]!.n) };
}
