"""Fixtures of the reliability suite (see _env.py)."""

from tests.reliability._env import make_env

__all__ = ["make_env"]
