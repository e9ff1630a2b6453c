//! Helpers for Cairn's end-to-end tests, which start the real `cairn` binary on loopback.
