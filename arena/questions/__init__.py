"""Questions: what is asked, and the files that hold the question sets.

`schema` (one question, the vocabularies), `loading` (question files), `checks` (`arena
questions validate`: every problem of a file), `similarity` (near duplicates and paraphrases),
`stats` (`arena questions stats`), `importers/` (`arena questions import`: JSONL, CSV, MedQuAD,
K-QA into our schema).
"""
