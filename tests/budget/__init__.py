"""Tests of the fleet-wide Directo budget (app/budget)."""
