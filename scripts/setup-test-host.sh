#!/usr/bin/env bash
# scripts/setup-test-host.sh -- prepare this machine for the integration rig.
#
# Run as root by the test command before pytest. Idempotent: every step
# checks first and only changes what is missing.
#
#   1. Debian packages the rig needs (sshd, nginx, php-fpm, mysql client,
#      sqlite, git, gnupg, sudo, curl, libpq5 for psycopg, chromium and a
#      font for the dashboard's headless-browser test). A temporary
#      /usr/sbin/policy-rc.d that exits 101 keeps package daemons from
#      starting during the install; it is removed afterwards only if this
#      script created it. The package index is refreshed only when something
#      is actually missing.
#   2. MariaDB answering on 127.0.0.1:3306 (started with start-stop-daemon
#      if installed but not running; installed first if absent).
#   3. The system user `aegir` (home /home/aegir, bash, group www-data).
#   4. A MariaDB admin account for the rig, `rig_admin`@`127.0.0.1` and
#      @`localhost`, with a random password kept in a root-only file, plus
#      client option files: /home/aegir/.my.cnf (aegir only, 0600) and
#      /etc/reconciler-rig/admin.cnf (root only, 0600).
#   5. /etc/sudoers.d/reconciler-rig: aegir may run, without a password,
#      only the rig's nginx config test and reload commands.
set -euo pipefail

RIG_ETC=/etc/reconciler-rig
RIG_BASE=/tmp/reconciler-rig
ADMIN_USER=rig_admin
ADMIN_PW_FILE=$RIG_ETC/admin.password
ADMIN_CNF=$RIG_ETC/admin.cnf
AEGIR_CNF=/home/aegir/.my.cnf
SUDOERS=/etc/sudoers.d/reconciler-rig
DB_HOST=127.0.0.1
DB_PORT=3306

log() { echo "setup-test-host: $*" >&2; }

if [[ $(id -u) != 0 ]]; then
    log "must run as root"
    exit 1
fi

# --- 1. packages -------------------------------------------------------------
PACKAGES=(openssh-server openssh-client php-cli php-fpm php-mysql php-sqlite3
          nginx mariadb-client sqlite3 git gnupg sudo curl libpq5 chromium
          fonts-liberation)

missing_packages() {
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            echo "$p"
        fi
    done
}

APT_UPDATED=0
apt_install() {
    # apt_install PKG... : install with package daemons kept from starting
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        if [[ $APT_UPDATED == 0 ]]; then
            apt-get update -q >&2 && APT_UPDATED=1
        fi
        apt-get install -y -q --no-install-recommends "$@" >&2
    } || rc=$?
    if [[ $made_policy == 1 ]]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    return "$rc"
}

mapfile -t MISSING < <(missing_packages "${PACKAGES[@]}")
if ((${#MISSING[@]} > 0)); then
    log "installing: ${MISSING[*]}"
    apt_install "${MISSING[@]}"
fi

# --- 2. MariaDB --------------------------------------------------------------
port_open() {
    (exec 3<>"/dev/tcp/$DB_HOST/$DB_PORT") 2>/dev/null
}

# root_mysql ARGS...: the mysql client as MariaDB's root, over TCP (root
# without password as root@127.0.0.1) or, on a fresh Debian install where
# root authenticates by unix_socket, over the local socket.
root_mysql() {
    if mysql --no-defaults -h "$DB_HOST" -P "$DB_PORT" -u root -N -B -e 'SELECT 1' \
        >/dev/null 2>&1; then
        mysql --no-defaults -h "$DB_HOST" -P "$DB_PORT" -u root "$@"
    else
        mysql --no-defaults -u root "$@"
    fi
}

db_answers() {
    port_open && root_mysql -N -B -e 'SELECT 1' >/dev/null 2>&1
}

if ! port_open; then
    if [[ ! -x /usr/sbin/mariadbd ]]; then
        log "installing mariadb-server"
        apt_install mariadb-server
    fi
    install -d -o mysql -g mysql -m 755 /run/mysqld
    log "starting mariadbd"
    start-stop-daemon --start --oknodo --background --chuid mysql \
        --exec /usr/sbin/mariadbd -- --bind-address="$DB_HOST" --port="$DB_PORT"
    for _ in $(seq 1 300); do
        if db_answers; then break; fi
        sleep 0.1
    done
fi
if ! db_answers; then
    log "MariaDB does not answer on $DB_HOST:$DB_PORT (as root)"
    exit 1
fi

# --- 3. the aegir user -------------------------------------------------------
if ! id aegir >/dev/null 2>&1; then
    log "creating user aegir"
    useradd --create-home --home-dir /home/aegir --shell /bin/bash \
        --groups www-data --comment 'reconciler rig' aegir
fi
if ! id -nG aegir | tr ' ' '\n' | grep -qx www-data; then
    usermod -a -G www-data aegir
fi
install -d -o aegir -g aegir -m 755 /home/aegir
# useradd leaves the password field "!" (locked); with UsePAM no, sshd
# refuses even key logins to a locked account. "*" = no password, not locked.
if [[ $(getent shadow aegir | cut -d: -f2) == '!'* ]]; then
    usermod -p '*' aegir
fi
# a non-interactive rc with nothing slow in it
for rc in .bashrc .profile; do
    if [[ ! -e /home/aegir/$rc ]]; then
        install -o aegir -g aegir -m 644 /dev/null "/home/aegir/$rc"
    fi
done

# --- 4. rig admin account ----------------------------------------------------
install -d -o root -g root -m 700 "$RIG_ETC"
if [[ ! -s $ADMIN_PW_FILE ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 \
        > "$ADMIN_PW_FILE")
fi
chmod 600 "$ADMIN_PW_FILE"
ADMIN_PW=$(cat "$ADMIN_PW_FILE")

root_mysql -B <<SQL
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$ADMIN_PW';
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PW';
ALTER USER '$ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$ADMIN_PW';
ALTER USER '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PW';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'localhost' WITH GRANT OPTION;
SQL

write_cnf() {  # write_cnf PATH OWNER
    local path=$1 owner=$2 tmp
    tmp=$(mktemp "$path.XXXXXX")
    cat > "$tmp" <<EOF
# written by scripts/setup-test-host.sh: the reconciler rig's MariaDB admin
[client]
user=$ADMIN_USER
password=$ADMIN_PW
host=$DB_HOST
port=$DB_PORT
EOF
    chown "$owner:$owner" "$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$path"
}
write_cnf "$ADMIN_CNF" root
write_cnf "$AEGIR_CNF" aegir

if ! mysql --defaults-file="$ADMIN_CNF" -N -B -e 'SELECT 1' >/dev/null; then
    log "the rig admin account does not work"
    exit 1
fi
if ! su -s /bin/sh aegir -c "mysql --defaults-file=$AEGIR_CNF -N -B -e 'SELECT 1'" >/dev/null; then
    log "aegir cannot use its admin option file"
    exit 1
fi

# --- 5. sudoers --------------------------------------------------------------
NGINX_CONF="$RIG_BASE/h[0-9][0-9]/nginx.conf"
tmp=$(mktemp)
cat > "$tmp" <<EOF
# written by scripts/setup-test-host.sh: the reconciler test rig.
# aegir may test and reload the rig's per-host nginx, and nothing else.
aegir ALL=(root) NOPASSWD: /usr/sbin/nginx -t -c $NGINX_CONF, /usr/sbin/nginx -s reload -c $NGINX_CONF
EOF
if ! visudo -c -q -f "$tmp"; then
    rm -f "$tmp"
    log "generated sudoers file does not parse"
    exit 1
fi
chmod 440 "$tmp"
chown root:root "$tmp"
mv -f "$tmp" "$SUDOERS"
visudo -c -q >/dev/null

# --- base dir ----------------------------------------------------------------
mkdir -p /run/sshd
chmod 755 /run/sshd
install -d -o root -g root -m 755 "$RIG_BASE"

log "ok"
