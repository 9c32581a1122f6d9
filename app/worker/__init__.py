"""The worker's composition root: which jobs and crons run, with which arq settings.

It sits above every flow (it registers their job specs and ticks); nothing below imports it.
"""
