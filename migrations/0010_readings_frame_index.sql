-- The same-frame check on every reading insert (src/storage/readings.ts insertReadings) looks
-- for the device's readings with the same frame counter. Through (device_id, received_at) it
-- visited every reading of the device in the ±60 s window, each a heap fetch, so its cost grew
-- with the device's uplink rate; by (device_id, f_cnt) it finds the one candidate directly.
CREATE INDEX sensor_readings_device_frame_idx ON sensor_readings (device_id, f_cnt, received_at);
