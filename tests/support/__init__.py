"""Helpers behind the test fixtures: real engine, registries, webhook receiver, git repos.

conftest.py only wires these into fixtures; tests may import the helpers directly
(`from support.receiver import verify_signature`), since pytest puts tests/ on sys.path.
"""
