-- tenant_events is the webhook fan-out's outbox (0012): each delivery copies its event's
-- data, so once fanned out an event is needed only as the tenant's highest `seq`, from
-- which the sequencer numbers the next ones. cleanup_bookkeeping deletes what is older than
-- TENANT_EVENTS_RETENTION_DAYS (ingest/jobs/cleanup-bookkeeping.ts) and runs as the ingest
-- role; RLS still confines each delete to the tenant it acts for.
GRANT DELETE ON tenant_events TO baygate_ingest;
