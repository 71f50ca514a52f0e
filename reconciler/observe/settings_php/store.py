"""What the walk keeps: the tracked variables, the includes, which writes were conditional.

Semantics, in file order, last assignment wins: ``$databases = [...]``,
``$databases['default'] = [...]``, ``$databases['default']['default'] = array (...)``,
``$databases[...]['host'] = '...'``, ``+=`` (array union: keys already there win), ``.=``,
``??=``, ``[]`` (append) and ``unset()`` are applied by :meth:`_Store.apply`. A write under a
dynamic key makes the array it lands in unknown; a write the walker does not model makes the
part it touches dynamic (:meth:`_Store.taint`).

Whatever a conditional statement touches below or at ``$databases['default']['default']`` is
remembered, so that :attr:`DatabaseSettings.conditional` can say the value depends on run time.
:meth:`_Store.result` reads the :class:`SettingsInfo` out of all this.
"""

from __future__ import annotations

from typing import Final

from reconciler.observe.settings_php.model import (
    DYNAMIC,
    MAX_DEPTH,
    DatabaseSettings,
    SettingsInfo,
    _ParseError,
)
from reconciler.observe.settings_php.values import (
    _DYN,
    _MISSING,
    _Append,
    _Arr,
    _combine,
    _Dynamic,
    _DynKey,
    _is_literal,
    _Missing,
    _PathKey,
    _php_empty,
    _php_str,
    _Value,
)

_TRACKED: Final = frozenset({"databases", "settings"})
_DB_PATH: Final = ("databases", "default", "default")


class _Store:
    """The variables ``$databases`` and ``$settings`` and the includes, as the walk finds them."""

    def __init__(self, variables: _Arr) -> None:
        self.variables = variables  # variable name -> value
        self.cond_levels: set[int] = set()  # conditional writes of $databases[...] up to D
        self.cond_keys: set[int | str] = set()  # ... and of D[<key>] (or below it)
        self.includes: list[str] = []

    # ---- results

    def result(self) -> SettingsInfo:
        settings = self.variables.get("settings")
        salt = self._lookup(settings, "hash_salt")
        sync = self._lookup(settings, "config_sync_directory")
        if isinstance(sync, _Dynamic) or (isinstance(sync, _Arr) and not _is_literal(sync)):
            sync_dir: str | None = DYNAMIC
        else:
            sync_dir = None if isinstance(sync, _Missing | _Arr) else _php_str(sync)
        return SettingsInfo(
            database=self._database(),
            includes=tuple(self.includes),
            hash_salt_set=not isinstance(salt, _Missing) and not _php_empty(salt),
            config_sync_directory=sync_dir,
            error=None,
        )

    @staticmethod
    def _lookup(node: _Value | _Missing, key: int | str) -> _Value | _Missing:
        if isinstance(node, _Arr):
            return node.get(key)
        if isinstance(node, _Dynamic):
            return _DYN
        return _MISSING

    def _database(self) -> DatabaseSettings | None:
        node: _Value | _Missing = self.variables
        for key in _DB_PATH:
            node = self._lookup(node, key)
        conditional = bool(self.cond_levels or self.cond_keys)
        if isinstance(node, _Missing):
            return None
        if not isinstance(node, _Arr):
            dynamic = ("*",) if isinstance(node, _Dynamic) else ()
            return DatabaseSettings(None, None, None, None, None, None, dynamic, conditional)
        dyn = [
            str(k)
            for k, v in node.items.items()
            if isinstance(v, _Arr | _Dynamic) and not _is_literal(v)  # scalars are literal
        ]
        if node.partial:
            dyn.append("*")
        items = node.items

        def text(key: str) -> str | None:
            v = items.get(key)
            if isinstance(v, str):
                return v
            return str(v) if isinstance(v, int) and not isinstance(v, bool) else None

        port = items.get("port")
        return DatabaseSettings(
            driver=text("driver"),
            database=text("database"),
            host=text("host"),
            port=port if isinstance(port, str | int) and not isinstance(port, bool) else None,
            username=text("username"),
            prefix=text("prefix"),
            dynamic=tuple(dyn),
            conditional=conditional,
        )

    # ---- writes

    def apply(self, path: list[_PathKey], op: str, value: _Value, cond: bool) -> None:
        """``<path> <op> value`` on the store (``op`` "unset" removes); *path*[0] is a name."""
        if len(path) > MAX_DEPTH:
            raise _ParseError(f"subscripts nested deeper than {MAX_DEPTH}")
        node: _Arr = self.variables
        done: list[int | str] = []
        k: int | str
        for n, key in enumerate(path, 1):
            if isinstance(key, _DynKey):
                node.forget()
                self._mark(done, cond, whole=False)
                return
            k = node.next_index() if isinstance(key, _Append) else key
            if n == len(path):
                break
            child = node.get(k)
            if isinstance(child, _Missing) or child is None:
                if op == "unset":
                    return
                child = _Arr()
                node.set(k, child)
            elif isinstance(child, _Dynamic):
                if op == "unset":
                    self._mark([*done, k], cond, whole=False)
                    return
                child = _Arr(partial=True)
                node.set(k, child)
            elif not isinstance(child, _Arr):  # a scalar: PHP errors or does string offsets
                node.set(k, _DYN)
                self._mark([*done, k], cond, whole=False)
                return
            node = child
            done.append(k)
        cur = node.get(k)
        if op == "unset":
            node.items.pop(k, None)
        else:
            node.set(k, _combine(cur, op, value))
        self._mark([*done, k], cond, whole=op in ("=", "unset"))

    def _mark(self, path: list[int | str], cond: bool, *, whole: bool) -> None:
        """Keep track of conditional writes to D = ``$databases['default']['default']``.

        A write to D or above it (*whole*: replacing the value) clears what conditional writes
        below it did; below D, only the first key is tracked (so a conditional write deeper in
        an option array keeps that option conditional), which keeps this O(1).
        """
        n = len(path)
        if tuple(path[:3]) != _DB_PATH[:n]:
            return
        if n <= len(_DB_PATH):
            if cond:
                self.cond_levels.add(n)
            elif whole:
                self.cond_levels = {c for c in self.cond_levels if c < n}
                self.cond_keys.clear()
        elif cond:
            self.cond_keys.add(path[3])
        elif whole and n == len(_DB_PATH) + 1:
            self.cond_keys.discard(path[3])

    def taint(self, path: list[_PathKey], cond: bool) -> None:
        """A write the walker does not model: what *path* names (up to its first unknown key,
        at least the variable) becomes dynamic."""
        cut = next((n for n, k in enumerate(path) if isinstance(k, _Append | _DynKey)), len(path))
        self.apply(path[: max(cut, 1)], "=", _DYN, cond)

    def taint_all(self, cond: bool) -> None:
        """A write to any variable (``extract()``, ``$$name``): both tracked ones are dynamic."""
        for name in _TRACKED:
            self.apply([name], "=", _DYN, cond)
