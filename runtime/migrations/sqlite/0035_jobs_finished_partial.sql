-- `jobs_finished` held every job, queued and running ones included, so a
-- job's insert and its claim each wrote it too (status leads its key, and
-- a claim changes the status). What needs it, the retention sweep and
-- the count of dead jobs, reads done and dead jobs: the ones with a
-- finished_at. Now it holds only those, and a job enters it once, when it
-- finishes. Statements that find queued or running jobs name the pending
-- statuses (`jobs_pending`'s WHERE, since 0015) so that SQLite reads that
-- index for them instead of the table.
DROP INDEX jobs_finished;
CREATE INDEX jobs_finished ON jobs (status, finished_at) WHERE finished_at IS NOT NULL;
