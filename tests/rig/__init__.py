"""The integration rig: real sshd, nginx, php-fpm, MariaDB and git on loopback.

Every later feature is shown working against this rig. Nothing here is a
mock: the rig starts the real daemons itself (as root), under the constant
base directory :data:`rig.layout.BASE` (``/tmp/reconciler-rig``), which
``scripts/setup-test-host.sh`` and its sudoers rule also name.

Modules (each one owns one part and says which fixtures it backs):

* :mod:`rig.layout`   -- constants: paths, ports, host names and users.
* :mod:`rig.procs`    -- daemons by pidfile, port waits, session locks.
* :mod:`rig.hosts`    -- sshd test hosts and :class:`rig.hosts.TestHost`.
* :mod:`rig.web`      -- nginx and php-fpm per host, :func:`rig.web.http_get`.
* :mod:`rig.mariadb`  -- the admin account and fresh databases.
* :mod:`rig.postgres` -- the PostgreSQL server on this machine, fresh schemas.
* :mod:`rig.gitrepos` -- bare git repositories, the stand-in platform repo.
* :mod:`rig.fixtures` -- the pytest fixtures (registered by tests/conftest.py).
"""
