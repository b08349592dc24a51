"""Compile the runtime's sources to marshalled code, for ``_bootstrap.compiled_runtime``.

Never imported: ``compiled_runtime`` reads this file as text and runs it with ``python -I -S -c``
and ``PYTHONHASHSEED=0``, because marshal output depends on the state of the process (interned
strings, set order) and builds must be reproducible. Reads JSON ``{"prefix": str, "sources":
[[name, text], ...]}`` on stdin; writes ``{"magic": hex, "code": {name: hex}}`` on stdout. Each
code object's file name is ``prefix + name + ".py"``, as the bootstrap names its modules.
"""

import json
import marshal
import sys
from importlib.util import MAGIC_NUMBER


def main() -> None:
    request = json.load(sys.stdin)
    out = {}
    for name, text in request["sources"]:
        code = compile(text, request["prefix"] + name + ".py", "exec", dont_inherit=True)
        out[name] = marshal.dumps(code).hex()
    json.dump({"magic": MAGIC_NUMBER.hex(), "code": out}, sys.stdout)


if __name__ == "__main__":
    main()
