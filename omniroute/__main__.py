"""``python -m omniroute`` runs the command line, like the ``omniroute`` script."""

from omniroute.cli import main

main()
