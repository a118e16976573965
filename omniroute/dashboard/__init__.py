"""The web dashboard: a shell page that builds its navigation from the registered
``DashboardPanel`` objects and loads each panel's ES module, served from the Python package
that ships it. The built-in panels use the same hook a third-party plugin does."""
