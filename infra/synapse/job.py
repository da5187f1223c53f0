"""The Synapse Spark job's main file: runs `shoplake.spark_job.main` with the job's arguments.

`shoplake synapse deploy` uploads this file beside `shoplake.zip` (the `shared` and `shoplake`
packages), which the job definition lists in `pyFiles`, so Spark puts the zip on `sys.path`.
The warehouse and the batch mappings read their SQL and TOML files from folders next to their
modules, which a zip on `sys.path` does not have: the zip is unpacked first.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "shoplake.zip"


def unpack_package() -> None:
    """Put an unpacked copy of the package first on `sys.path` (a no-op where it is absent,
    as when the job runs from a checkout)."""
    for entry in sys.path:
        if Path(entry).name == PACKAGE and zipfile.is_zipfile(entry):
            folder = tempfile.mkdtemp(prefix="shoplake-")
            with zipfile.ZipFile(entry) as package:
                package.extractall(folder)
            sys.path.insert(0, folder)
            return


def run(argv: list[str]) -> int:
    unpack_package()
    from shoplake.spark_job import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
