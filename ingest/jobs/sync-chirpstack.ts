/**
 * sync_chirpstack: mirrors device facts from ChirpStack's API. Registered now so the
 * schedule and election exist; the sync comes with issue 6 (CHIRPSTACK_API_URL and
 * CHIRPSTACK_API_TOKEN), until then every run reports `skipped`.
 */
import type { JobDef } from './job.js';

export const syncChirpstack: JobDef = {
  name: 'sync_chirpstack',
  schedule: '15 */5 * * * *', // every 5 minutes
  async run() {
    return { status: 'skipped', counts: {}, detail: 'not configured: ChirpStack API sync comes with issue 6' };
  },
};
