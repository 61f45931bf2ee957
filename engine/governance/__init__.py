"""Governance data and records: groups, seats, meetings, the PMO's logs, the change-request register."""
