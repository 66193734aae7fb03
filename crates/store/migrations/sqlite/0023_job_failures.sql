-- The transient failures of a job's current step, apart from its claims: a worker that stops
-- while it holds a job (a crash, a kill, a wave giving its records up) costs the job a claim,
-- never one of the retries its step is allowed. A move of the job's post to another state
-- starts both counts over.
ALTER TABLE jobs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
