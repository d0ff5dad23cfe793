"""``python -m invtools``: the ``invtools`` command line (:func:`invtools.workflow.cli.main`)."""

import sys

from invtools.workflow.cli import main

if __name__ == "__main__":
    sys.exit(main())
