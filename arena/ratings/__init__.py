"""Stage 3: battles into ratings.

`bt` (Bradley-Terry on pairwise counts, multinomial bootstrap), `elo` (online Elo view),
`length` (length-controlled fit), `data` (battles from the store), `diagnostics` (judge
position bias and order agreement), `report` (the payload and its snapshots), `render`
(table/csv/json/markdown) and `rate` (the `arena rate` command's work).
"""
