"""The embedded store: SQLite through sqlite-utils, append-only migrations, one DB thread."""
