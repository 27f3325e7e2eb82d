-- A display moved to another space, or taken out of service, must not keep receiving (and
-- retrying) the state of the space it left: its downlink still on its way is superseded the
-- moment the assignment changes, whichever code path changes it. The trigger runs as the
-- updating role under the tenant it acts for, so RLS confines it to that tenant's rows.
CREATE FUNCTION baygate_display_reassigned() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  UPDATE display_downlinks
     SET status = 'superseded', last_error = 'the display was moved or unassigned', updated_at = now()
   WHERE device_id = NEW.id AND status IN ('pending', 'published', 'transmitted');
  RETURN NULL;
END $$;
CREATE TRIGGER devices_display_reassigned AFTER UPDATE OF assigned_space_id ON devices
  FOR EACH ROW WHEN (NEW.device_type = 'display' AND OLD.assigned_space_id IS DISTINCT FROM NEW.assigned_space_id)
  EXECUTE FUNCTION baygate_display_reassigned();
