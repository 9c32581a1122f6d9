"""The job framework: the runner that records a job's status in the `jobs` table, fences
each run and commits its outcome with its writes, and the diagnostic `ping` job. The flows
define their job specs on top of it; `app/worker/` registers them."""
