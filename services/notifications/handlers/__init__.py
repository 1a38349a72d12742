"""Notification use cases: events become deliveries; due deliveries are sent and their outcomes
recorded; abandoned claims are reaped; unacknowledged acute referrals escalate."""
