"""Stages, the DAG engine, the durable queue and the worker."""
