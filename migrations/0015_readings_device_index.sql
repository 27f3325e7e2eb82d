-- sensor_readings had two indexes led by device_id: (device_id, received_at DESC) for a
-- device's latest readings and the device-health job, and (device_id, f_cnt, received_at)
-- for the same-frame check on every insert (0010). Each reading went into both at a random
-- place (one per device), and the pair cost about a third of the reading insert: ~34 µs a
-- row with both, ~22 µs with one (bench:ingest, 200,000 readings, pg_stat_statements).
--
-- One index serves both. With f_cnt as a key column after received_at, the same-frame
-- check (device_id = x AND received_at within ±60 s AND f_cnt = x) evaluates f_cnt on the
-- index entries themselves, so only a reading with the same frame counter is fetched from
-- the heap: what 0010 bought, without a second index.
DROP INDEX sensor_readings_device_frame_idx;
DROP INDEX sensor_readings_device_time_idx;
CREATE INDEX sensor_readings_device_time_idx ON sensor_readings (device_id, received_at DESC, f_cnt);
--
-- The build holds off writes to sensor_readings while it runs (minutes on a table of many
-- millions): ingest then stops acknowledging and the broker queues the uplinks, which is why
-- deploy/mosquitto/mosquitto.conf bounds its queue by memory rather than a count.
