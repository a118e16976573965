"""Wire formats: the APIs clients and upstreams speak. Built-in formats are default plugins."""
