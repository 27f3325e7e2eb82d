/**
 * Owns the SQL of claims with proof (issue 17 §3): whether what a tenant is about to claim
 * (a DevEUI, a ChirpStack application) is already another tenant's. Both answers come from
 * SECURITY DEFINER functions of migration 0019, because the API role may not read what they
 * look at (unclaimed_devices, other tenants' mappings and devices); each reads the caller's
 * tenant from the transaction and returns one boolean, nothing about the other tenant.
 */
import type { Queryable } from '../db/pool.js';

/**
 * Whether the DevEUI was heard by ingest, or listed by ChirpStack, under an application
 * another tenant mapped. Run in the registering transaction, before the unclaimed row is
 * claimed (src/storage/devices.ts insertDevice).
 */
export async function deviceClaimedElsewhere(c: Queryable, devEui: string): Promise<boolean> {
  const r = await c.query<{ taken: boolean }>(`SELECT baygate_device_claimed_elsewhere($1) AS taken`, [devEui]);
  return r.rows[0]!.taken;
}

/** Whether another tenant has registered and bound a live device of any of these applications. */
export async function applicationsBoundElsewhere(c: Queryable, applicationIds: string[]): Promise<boolean> {
  const r = await c.query<{ taken: boolean }>(`SELECT baygate_applications_bound_elsewhere($1::uuid[]) AS taken`, [applicationIds]);
  return r.rows[0]!.taken;
}
