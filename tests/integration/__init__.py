"""Integration tests: real sshd, nginx, php-fpm, MariaDB and git (see tests/rig)."""
