/**
 * process_webhook_spool: applies ChirpStack events received over HTTP and spooled. Registered
 * now so the schedule and election exist; the spool and its processing come with issue 7
 * (webhooks), until then every run reports `skipped`.
 */
import type { JobDef } from './job.js';

export const processWebhookSpool: JobDef = {
  name: 'process_webhook_spool',
  schedule: '30 * * * * *', // every minute, half a minute after expire_reservations
  async run() {
    return { status: 'skipped', counts: {}, detail: 'not configured: the webhook spool comes with issue 7' };
  },
};
