"""``python -m weboslb.cli``: the switch console (as ``weboslb cli``)."""
import sys

from weboslb.cli.command import main

sys.exit(main())
