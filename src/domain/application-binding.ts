/**
 * Decides whether an event may speak for a device, by the ChirpStack application it came
 * through (issue 17, "An uplink counts only from the device's own application"). A device is
 * bound to one application: by the sync job (ChirpStack says so), by an admin, or by the first
 * event accepted for it (trust on first use). Pure; ingest supplies the facts and writes the
 * binding.
 */

/** ChirpStack v4 application ids are UUIDs (api/proto/api/application.proto `Application.id`). */
export const APPLICATION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type ApplicationRefusal =
  /** The tenant mapped its ChirpStack applications and this event came through another one (or named none). */
  | 'application_not_mapped'
  /** The device is bound to another application (or the event named none). */
  | 'bound_elsewhere';

export type ApplicationVerdict = { accept: true; bind: string | null } | { accept: false; refusal: ApplicationRefusal };

/**
 * `binding`: the device's application, null if unbound. `mapped`: the applications the
 * device's tenant mapped (empty: it mapped none). `eventApplication`: what the event came
 * through, lowercase, null when the topic and payload named none. On acceptance `bind` is the
 * application to bind an unbound device to (null: nothing to bind).
 */
export function checkApplication(binding: string | null, mapped: ReadonlySet<string>, eventApplication: string | null): ApplicationVerdict {
  if (mapped.size > 0 && (eventApplication === null || !mapped.has(eventApplication))) return { accept: false, refusal: 'application_not_mapped' };
  if (binding !== null) return eventApplication === binding ? { accept: true, bind: null } : { accept: false, refusal: 'bound_elsewhere' };
  return { accept: true, bind: eventApplication };
}
