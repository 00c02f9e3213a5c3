"""`python -m appliance.cli`: the `hookline` command."""
from . import main

main()
