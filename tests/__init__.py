"""Test package (lets ``tests.engine_fixtures:cheap`` resolve as a ``module:function`` ref)."""
