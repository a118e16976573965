"""The management plane: ``/api/*`` handlers and the operations they share with the CLI."""
