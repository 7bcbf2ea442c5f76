"""Daemon mode: scheduling, health and metrics, signals, reloads."""
