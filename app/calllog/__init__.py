"""The log of every Directo call: a per-process buffer the client reports to, written in
batches (`recorder.py`), and what the API shows of it (`schemas.py`)."""
