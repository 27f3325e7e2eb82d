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
