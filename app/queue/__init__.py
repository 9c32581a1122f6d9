"""The job queue: every job's name, and the adapter to arq on Redis (the only module besides
the worker that imports arq). It sits below `resources`, which opens the queue; the job
runner (`app/jobs/`) sits above it."""
