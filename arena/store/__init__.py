"""The store: every stage's results, through SQLAlchemy Core. The only place that writes SQL.

`schema` (the tables and the values their columns take, the schema version and upgrades),
`engine` (opening a store, read-only opens, one-line write errors), `commit` (group commit from
a writer thread), then one module per table family: `answers` (questions and answers),
`judgments` (judgments and the battles the judge makes), `battles` (reading battles: the one
selection, fast column reads, import and export), `explorer` (the dashboard's battle search and
detail), `snapshots` (rating snapshots and the answers they rated), `validation` (`arena judge
validate`'s items and verdicts), `runlock` (one run at a time).
"""
