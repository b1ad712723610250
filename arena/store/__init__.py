"""The store: every stage's results, through SQLAlchemy Core.

`schema` (the tables, the schema version and upgrades), `engine` (opening a store, read-only
opens, one-line write errors), `commit` (group commit from a writer thread), then one module per
table family: `answers` (questions and answers), `judgments` (judgments and the battles the judge
makes), `validation` (`arena judge validate`'s items and verdicts), `runlock` (one run at a time).
"""
