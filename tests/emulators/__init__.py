"""Emulators of cloud APIs that speak the real wire protocols on loopback."""
