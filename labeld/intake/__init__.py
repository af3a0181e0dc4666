"""Intake: documents arrive from the hot folder or the socket and become durable jobs."""
