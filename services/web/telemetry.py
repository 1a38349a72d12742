"""The web app's Prometheus metrics: requests by route template, latency, sign-ins, active sessions.

Labels hold route templates (`/referrals/{referral_id}`), methods, status codes and outcomes only:
never a path as requested, a referral id, a staff id or anything about a client. Each app has its
own registry, so two apps in one process (tests) do not share counts.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

UNMATCHED = "unmatched"  # the route label of a request no route answered (a 404)
SIGN_IN_OUTCOMES = ("ok", "failed", "refused")


class WebMetrics:
    """The counters, histogram and gauge of one web app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_* and python_* like every service
        PlatformCollector(registry=self.registry)
        self.registry.register(GC_COLLECTOR)
        self.requests = Counter(
            "web_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "web_http_request_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.sign_ins = Counter(
            "web_sign_ins_total",
            "Sign-ins finished at /auth/callback: ok, failed (provider or token), refused (state or claims).",
            ["outcome"],
            registry=self.registry,
        )
        self.sessions_active = Gauge(
            "web_sessions_active",
            "Signed-in sessions used within the idle timeout, counted at each scrape.",
            registry=self.registry,
        )
        for outcome in SIGN_IN_OUTCOMES:
            self.sign_ins.labels(outcome)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def signed_in(self, outcome: str) -> None:
        """One finished sign-in attempt (`outcome` one of SIGN_IN_OUTCOMES)."""
        self.sign_ins.labels(outcome).inc()

    def exposition(self, active_sessions: int) -> bytes:
        """The Prometheus text format, with the session count as of now."""
        self.sessions_active.set(active_sessions)
        return generate_latest(self.registry)
