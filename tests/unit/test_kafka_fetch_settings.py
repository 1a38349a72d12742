"""Consumers' fetch sizes follow the broker unless set (shared/settings.py)."""

from shared.kafka import subscriber_options
from shared.settings import KafkaSettings


def test_fetches_gather_64_kib_on_apache_kafka_and_nothing_on_tansu_unless_set():
    assert subscriber_options(KafkaSettings(flavour="apache"), "g")["fetch_min_bytes"] == 65_536
    assert subscriber_options(KafkaSettings(flavour="tansu"), "g")["fetch_min_bytes"] == 1
    assert KafkaSettings(flavour="tansu", fetch_min_bytes=4096).consumer_min_bytes == 4096
    assert subscriber_options(KafkaSettings(), "g")["fetch_max_wait_ms"] == 50
