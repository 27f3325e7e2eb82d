-- ChirpStack's HTTP integration as it really posts (issue 18 §3): each event is POSTed with
-- `?event=<kind>` and `Content-Type: application/json` or, with the integration's Protobuf
-- encoding, `application/octet-stream` (chirpstack/src/integration/http.rs, post_event).
--
-- 1. A spooled event keeps the encoding it arrived in, so ingest decodes it as sent rather
--    than guessing from its bytes. Rows spooled before were JSON: the API accepted nothing else.
-- 2. `location` events are spooled too (ChirpStack ≥ 4 posts them; baygate stores the device's
--    resolved location). Kinds baygate does not use (`integration`, anything newer) are
--    counted by the API and never stored, so the CHECK stays a closed list.
ALTER TABLE webhook_spool
  ADD COLUMN encoding text NOT NULL DEFAULT 'json' CHECK (encoding IN ('json', 'protobuf')),
  DROP CONSTRAINT webhook_spool_event_check,
  ADD CONSTRAINT webhook_spool_event_check CHECK (event IN ('up', 'status', 'join', 'ack', 'txack', 'log', 'location'));
