"""The metrics service's rules, pure (standard library only): how events are read for metrics
(`labels`), the events as the metrics see them (`events`), which read-model changes each event
makes (`projection`), and the figures the read models give (`figures`)."""
