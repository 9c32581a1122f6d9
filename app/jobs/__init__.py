"""The job framework: job names, the queue adapter (the only module besides the worker that
imports arq) and the runner that records status in the `jobs` table. The flows define their
job specs on top of it; `app/worker/` registers them."""
