"""A small Django project for tests/test_django.py (settings from the environment)."""
