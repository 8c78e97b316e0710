-- Assent schema, version 6: challenges are looked up by device and by
-- transaction only while they are pending (a device's pending list, the
-- pushes of a sign-in still to cancel), so those two indexes keep pending
-- challenges only, and no query reads challenges by user (a user's
-- history is the audit log's), so that index goes. A settled push that a
-- node writes once, created and settled together, then touches no index
-- page but its id's: at thousands of users each index a row enters is one
-- more page to write at the commit, and to copy at the checkpoint.
--
-- The queries name status = 'pending' as a literal (a bound parameter
-- does not let SQLite use a partial index).
DROP INDEX challenges_device_status;
DROP INDEX challenges_tx;
DROP INDEX challenges_user_created;
CREATE INDEX challenges_device_pending ON challenges (device_id) WHERE status = 'pending';
CREATE INDEX challenges_tx_pending ON challenges (tx_id) WHERE status = 'pending';
