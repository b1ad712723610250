"""The store: every stage's results, through SQLAlchemy Core.

`schema` (the tables, the schema version and upgrades), `engine` (opening a store, read-only
opens, one-line write errors), `commit` (group commit from a writer thread), `runlock` (one run
at a time).
"""
