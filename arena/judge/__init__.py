"""Stage 2: a Prometheus 2 judge compares two answers under a rubric; verdicts become battles."""
