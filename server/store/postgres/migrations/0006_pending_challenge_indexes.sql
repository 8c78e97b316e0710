-- Assent schema, version 6: challenges are looked up by device and by
-- transaction only while they are pending, and never by user; see the
-- SQLite migration of the same number. The queries name
-- status = 'pending' as a literal, so that a generic plan can use the
-- partial indexes too.
DROP INDEX challenges_device_status;
DROP INDEX challenges_tx;
DROP INDEX challenges_user_created;
CREATE INDEX challenges_device_pending ON challenges (device_id) WHERE status = 'pending';
CREATE INDEX challenges_tx_pending ON challenges (tx_id) WHERE status = 'pending';
