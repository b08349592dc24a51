"""``python -m signedimp``: the same command line as the ``signedimp`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
