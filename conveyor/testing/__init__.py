"""Test support shared by every app's tests: factories and the base cast of users."""
