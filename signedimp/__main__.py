"""``python -m signedimp``: the same command line as the ``signedimp`` script.

The one module of ``signedimp/`` that is not runtime: it is never imported by the verifier and
never embedded, it only hands over to the tools' command line.
"""

import sys

from signedimp.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
