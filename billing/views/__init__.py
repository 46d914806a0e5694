"""Billing's screens for customer service representatives."""
