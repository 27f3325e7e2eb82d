-- A sensor's state change rewrites its space row (current_state, sensor_state,
-- state_changed_at). With current_state in spaces_tenant_state_idx every such update was a
-- non-HOT one: a new entry in each of the table's indexes, about a fifth of all uplinks in a
-- busy car park. No query needed current_state in an index: the list filters it after the
-- tenant (RLS) and orders by created_at, and the counts read every space of a tenant anyway.
-- Indexing (tenant_id, created_at, id) instead serves the list's order and leaves every
-- column a state change writes unindexed, so with the table's fillfactor (0002) the update
-- stays on its page (HOT: https://www.postgresql.org/docs/current/storage-hot.html).
DROP INDEX spaces_tenant_state_idx;
CREATE INDEX spaces_tenant_created_idx ON spaces (tenant_id, created_at, id) WHERE deleted_at IS NULL;
