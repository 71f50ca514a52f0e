"""Top-level pytest configuration.

Registers the integration rig's fixtures (``tests/rig/fixtures.py``):
``rig_hosts``, ``rig_workspace``, ``mariadb_admin``, ``fresh_db``,
``standin_repo`` and ``rig_repo_dir``; and ``mariadb2_admin``, the rig's second
MariaDB server (``tests/rig/mariadb2.py``). They start nothing until a test asks
for them, so unit tests pay nothing for the rig.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:  # the rig is imported as the top-level package `rig`
    sys.path.insert(0, _TESTS)

pytest_plugins = ["rig.fixtures", "rig.mariadb2"]
