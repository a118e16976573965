"""The usage ledger: every request recorded, off the event loop."""
