"""Compile the runtime's sources to marshalled code, for ``_bootstrap.compiled_runtime``.

Never imported: ``compiled_runtime`` reads this file as text and runs it with ``python -I -S -c``
and ``PYTHONHASHSEED=0``, because marshal output depends on the state of the process (interned
strings, set order) and builds must be reproducible. Reads JSON ``{"prefix": str, "sources":
[[name, text], ...]}`` on stdin; writes ``{"magic": hex, "code": {name: hex}}`` on stdout. Each
code object's file name is ``prefix + name + ".py"``, as the bootstrap names its modules.

``from __future__ import annotations`` is applied as a compiler flag and its line left blank
(line numbers unchanged): the statement would otherwise import ``__future__`` at every start
of an embedded runtime (a frozen app's freezer serves it through its own importer: about
0.7M instructions), for a flag that matters only while compiling.
"""

import __future__

import json
import marshal
import sys
from importlib.util import MAGIC_NUMBER

FUTURE_LINE = "from __future__ import annotations"


def compile_module(text: str, filename: str):
    """``text`` compiled as a module; a ``from __future__ import annotations`` line at the
    top level becomes the equivalent compiler flag."""
    flags = 0
    lines = text.split("\n")
    if FUTURE_LINE in lines:
        lines[lines.index(FUTURE_LINE)] = ""
        text = "\n".join(lines)
        flags = __future__.annotations.compiler_flag
    return compile(text, filename, "exec", flags=flags, dont_inherit=True)


def main() -> None:
    request = json.load(sys.stdin)
    out = {}
    for name, text in request["sources"]:
        code = compile_module(text, request["prefix"] + name + ".py")
        out[name] = marshal.dumps(code).hex()
    json.dump({"magic": MAGIC_NUMBER.hex(), "code": out}, sys.stdout)


if __name__ == "__main__":
    main()
