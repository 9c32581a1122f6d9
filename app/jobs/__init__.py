"""Background work: job names, the queue adapter (the only module that imports arq besides
the worker), the runner that records status in the `jobs` table, and the worker settings."""
