"""Stage 3: battles into ratings. The method and its choices are written down in RATINGS.md.

`data` (which battles: the one BattleSelection; reading them into arrays), `bt` (Bradley-Terry
with one weak prior on pair counts, batched bootstrap refits), `resample` (question- or
battle-level bootstrap draws), `style` (style control: LMArena's covariates, clustered sandwich
intervals), `elo` (online Elo view), `build` (a report's boards: fit, bootstrap, ranks, flags,
pairwise tables, views), `compare` (head to head: P(A above B), record, sign test),
`diagnostics` (judge position bias and order agreement), `report` (the typed report and its
JSON), `snapshots` (storing and reusing reports), `render` (table/csv/json/markdown) and `rate`
(the `arena rate` command's work: current answers only).
"""
