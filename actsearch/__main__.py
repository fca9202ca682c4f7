"""`python -m actsearch` is the `actsearch` command."""

from actsearch.cli import main

main()
