"""Integration-test configuration.

The rig's fixtures (``rig_hosts``, ``rig_workspace``, ``mariadb_admin``,
``fresh_db``, ``standin_repo``, ``rig_repo_dir``) come from
``tests/rig/fixtures.py`` via tests/conftest.py. This file adds the
per-host shortcuts ``h01``, ``h02`` (aegir) and ``h03`` (root), each
scoped to the test's own workspace.
"""

from __future__ import annotations

import pytest
from rig.hosts import TestHost


@pytest.fixture
def h01(rig_workspace: list[TestHost]) -> TestHost:
    return rig_workspace[0]


@pytest.fixture
def h02(rig_workspace: list[TestHost]) -> TestHost:
    return rig_workspace[1]


@pytest.fixture
def h03(rig_workspace: list[TestHost]) -> TestHost:
    return rig_workspace[2]
