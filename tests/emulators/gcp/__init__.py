"""Emulators of Google Cloud APIs (OAuth2 token endpoint, metadata server)."""
