"""What an operator sees across the flows: per-connection sync status and staleness.

It reads several flows (catalogue imports, statistics, payment polls), so it sits above them
and below the composition roots that show it — the API and the operations console.
"""
