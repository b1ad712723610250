"""`arena nightly`: the whole pipeline once, incrementally, under the store's lock.

`runner` (running the stages under the lock, the log, the summary), `stages` (what each stage
does), `plan` (the dry run).
"""
