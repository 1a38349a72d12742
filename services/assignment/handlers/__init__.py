"""Assignment's use cases: load → decide (domain) → save + outbox → commit, in one unit of work.

`assign` (the consumer's: a batch of received referrals), `cases` (the case lifecycle behind the
staff API), `rotation` (on duty, schedule, overrides, absences, workload) and `scheduled` (the
deadline alerts and handovers the timer emits).
"""
