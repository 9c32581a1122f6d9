"""What several test modules share: clients, workers, sandbox set-ups, receivers, keys.

Test modules import from here, never from each other."""
