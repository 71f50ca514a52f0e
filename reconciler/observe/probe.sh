# reconciler probe: everything the controller needs to know about one server, in one round trip.
#
# Run as `sh -s -- TOKEN PLATFORMS_ROOT BACKUPS_ROOT VHOST_DIR [CODEBASE DOCROOT]...` with this script on
# stdin; nothing is installed on the server and nothing a site controls is executed: settings.php
# and vhost files are only read (and shipped as a tar stream), never included or run.
# Paths may start with "~/" (the login user's home).
#
# Output: "Z" and a gzip stream of the output below, or "R" and the output itself when the
# server has no gzip. The output: records of NUL-terminated fields, each record starting with a tag, then the line
# "TAR-<TOKEN>\0" followed by a tar stream of every site's settings.php and every vhost file.
#   V  <probe version>
#   H  <login user> <home>
#   R  <role: platforms|backups|vhosts> <path> <ok|missing|unreadable>
#   P  <codebase> <docroot or "?"> <core VERSION or "">
#   E  <docroot> <depth> <relative path> <type> <mode> <owner> <group> <size>
#   B  <backup site dir> <file name> <size> <mtime> <mode>
#   S  <docroot> <site> <files|private> <bytes>
#   W  <vhost file> <size> <mode>
#   TAR-<TOKEN>   (the token is random per run: no file name can fake the end of the records)
set -u
LC_ALL=C
export LC_ALL
umask 077

# Few processes: every $(...) and pipe is a fork, and a server holds thousands of sites but the
# probe's cost must not depend on them beyond find's own work.
expand() {
    # expand PATH: sets $ex to PATH with a leading "~/" replaced by the home directory
    case $1 in
        "~/"*) ex=$HOME/${1#"~/"} ;;
        *) ex=$1 ;;
    esac
}

rec() {
    # rec FIELD... : one record of NUL-terminated fields
    for f in "$@"; do printf '%s\0' "$f"; done
}

probe() {
    rec V 1
    rec H "${LOGNAME:-${USER:-$(id -un)}}" "$HOME"

    token=$1
    expand "$2"
    platforms=$ex
    expand "$3"
    backups=$ex
    expand "$4"
    vhosts=$ex
    shift 4

    for role in platforms backups vhosts; do
        eval "dir=\$$role"
        if [ -z "$dir" ]; then
            continue
        elif [ ! -d "$dir" ]; then
            rec R "$role" "$dir" missing
        elif [ ! -r "$dir" ] || [ ! -x "$dir" ]; then
            rec R "$role" "$dir" unreadable
        else
            rec R "$role" "$dir" ok
        fi
    done

    # --- codebases: every directory under the platforms root, plus the declared ones
    # docroots found, kept as $r1 .. $rN (eval only ever sees the variable names, never the values)
    nroots=0

    probe_codebase() {
        base=$1
        wanted=$2
        found=?
        for d in "$wanted" web docroot html .; do
            [ -n "$d" ] || continue
            if [ "$d" = . ]; then root=$base; else root=$base/$d; fi
            if [ -f "$root/core/lib/Drupal.php" ]; then
                found=$d
                break
            fi
        done
        version=
        if [ "$found" != "?" ]; then
            version=$(sed -n "/^[[:space:]]*const[[:space:]][[:space:]]*VERSION[[:space:]]*=[[:space:]]*'\\([^']*\\)'.*/{s//\\1/p;q;}" "$root/core/lib/Drupal.php" 2>/dev/null)
            nroots=$((nroots + 1))
            eval "r$nroots=\$root"
        fi
        rec P "$base" "$found" "$version"
    }

    is_declared() {
        # is_declared BASE DECLARED-PAIRS... : BASE is one of the declared codebases
        b=$1
        shift
        while [ $# -ge 2 ]; do
            expand "$1"
            [ "$ex" = "$b" ] && return 0
            shift 2
        done
        return 1
    }

    declared_count=$#
    i=0
    while [ $i -lt $declared_count ]; do
        # rotate the pairs through "$@" so that the list is intact afterwards
        base=$1
        docroot=$2
        shift 2
        expand "$base"
        probe_codebase "$ex" "$docroot"
        set -- "$@" "$base" "$docroot"
        i=$((i + 2))
    done
    if [ -d "$platforms" ] && [ -r "$platforms" ]; then
        for base in "$platforms"/*; do
            [ -d "$base" ] || continue
            [ -L "$base" ] && continue
            is_declared "$base" "$@" && continue
            probe_codebase "$base" ""
        done
    fi

    # --- site directories, their settings.php, files/ and private/ (one find for all codebases)
    set --
    i=1
    while [ $i -le $nroots ]; do
        eval "set -- \"\$@\" \"\$r$i/sites\""
        i=$((i + 1))
    done
    if [ $# -gt 0 ]; then
        find "$@" -mindepth 1 -maxdepth 2 \( -type d -o -name settings.php \) \
            -printf 'E\0%H\0%d\0%P\0%y\0%m\0%u\0%g\0%s\0' 2>/dev/null
        find "$@" -mindepth 3 -type f -printf '%s %H\0%P\0' 2>/dev/null | awk '
            BEGIN { RS = "\0"; ORS = "" }
            NR % 2 == 1 { sp = index($0, " "); size = substr($0, 1, sp - 1); top = substr($0, sp + 1); next }
            {
                i = index($0, "/"); if (i == 0) next
                site = substr($0, 1, i - 1); rest = substr($0, i + 1)
                j = index(rest, "/"); if (j == 0) next
                kind = substr(rest, 1, j - 1)
                if (kind != "files" && kind != "private") next
                key = top "\001" site "\001" kind
                sum[key] += size
            }
            END {
                for (k in sum) {
                    split(k, part, "\001")
                    printf "S%c%s%c%s%c%s%c%.0f%c", 0, part[1], 0, part[2], 0, part[3], 0, sum[k], 0
                }
            }'
    fi

    # --- backups: <backups>/<site>/<file>.tar.gz
    if [ -d "$backups" ]; then
        find "$backups" -mindepth 2 -maxdepth 2 -type f -name '*.tar.gz' \
            -printf 'B\0%h\0%f\0%s\0%T@\0%m\0' 2>/dev/null
    fi

    # --- vhosts
    if [ -d "$vhosts" ]; then
        # -L: a link (Debian's sites-enabled -> sites-available) is the vhost nginx loads; its
        # size, mode and text are its target's; a dangling link is none
        find -L "$vhosts" -mindepth 1 -maxdepth 1 -type f -printf 'W\0%p\0%s\0%m\0' 2>/dev/null
    fi

    # --- the text of every settings.php and vhost file, as one tar stream
    rec "TAR-$token"
    {
        if [ $# -gt 0 ]; then
            find "$@" -mindepth 2 -maxdepth 2 -name settings.php -type f -size -2048k -print0 2>/dev/null
        fi
        if [ -d "$vhosts" ]; then
            find -L "$vhosts" -mindepth 1 -maxdepth 1 -type f -size -256k -print0 2>/dev/null
        fi
    } | tar -c -f - -P -h --no-recursion --ignore-failed-read --null -T - 2>/dev/null
}

# The records and the tar stream compress ~15x (tar headers, similar settings files): gzip -1
# costs the server a few milliseconds and saves most of the transfer and of its encryption.
if command -v gzip >/dev/null 2>&1; then
    printf Z
    probe "$@" | gzip -1
else
    printf R
    probe "$@"
fi
exit 0
