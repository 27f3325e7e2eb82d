-- An unclaimed device's uplink_count grew by every delivery of an uplink: when ingest's
-- PUBACK is lost after its commit, the broker delivers the batch again (at least once,
-- MQTT 3.1.1 §4.3.2), and the same uplinks were counted twice. Registered devices are safe:
-- their readings' deduplication key decides what is new. Unclaimed devices keep no readings,
-- so each keeps the deduplication ids of its latest uplinks instead, and an uplink whose id
-- is among them is not counted again (src/storage/unclaimed.ts). A redelivery follows the
-- lost acknowledgement within seconds, so the latest few ids are enough.
ALTER TABLE unclaimed_devices ADD COLUMN recent_deduplication_ids uuid[] NOT NULL DEFAULT '{}';
