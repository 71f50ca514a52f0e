"""Read the database settings of a Drupal ``settings.php`` by parsing its PHP text.

The file belongs to the site, so nothing in it is executed or included: a small PHP tokenizer
and a statement walker apply PHP's semantics to the assignments that matter and nothing else.

What is read (:func:`parse_settings` returns a :class:`SettingsInfo`):

* ``$databases['default']['default']`` -- driver, database, host, port, username, prefix. The
  password is skipped: it never leaves this package, not even in an error message.
* ``$settings['hash_salt']`` -- only *whether* it is set to a non-empty value.
* ``$settings['config_sync_directory']``.
* every ``include``/``require``/``include_once``/``require_once`` that runs at top level (also
  inside ``if`` blocks), so that the caller can say "credentials may come from an included file".

A value that is not a literal is never guessed: a dynamic key of the database entry is listed in
:attr:`DatabaseSettings.dynamic`; ``"*"`` there means the entry as a whole, or an unknown set of
its keys, is dynamic.

The modules, in the order a text goes through them:

* :mod:`.model` -- the results (:class:`SettingsInfo`, :class:`DatabaseSettings`) and bounds;
* :mod:`.fast` -- the common shapes of the file, recognised with one regex; anything else
  falls through to the full parser, whose result the fast path must match;
* :mod:`.lexer` -- the PHP tokenizer (tags, comments, strings, numbers);
* :mod:`.statements` -- the walker: which statements run, and whether conditionally;
* :mod:`.expressions` -- the value of an expression, the subscripts of a target;
* :mod:`.store` -- what the assignments leave in ``$databases``/``$settings``, and the result;
* :mod:`.values` -- PHP's values as far as they are known, and its rules for them.

Bounds: input over :data:`MAX_INPUT` (2 MiB; bytes, or characters for ``str``), bracket or
block nesting deeper than :data:`MAX_DEPTH` (64), more than :data:`MAX_TOKENS` tokens, and
lexical errors PHP itself would refuse (unterminated string or heredoc, stray byte, unbalanced
brackets, invalid number) give a result whose :attr:`SettingsInfo.error` says so and whose other
fields are empty. No input raises.
"""

from __future__ import annotations

# `as`: re-exported, for the tests that hold the fast path to the full parser (_slow_parse)
from reconciler.observe.settings_php.fast import _fast_parse as _fast_parse
from reconciler.observe.settings_php.lexer import _lex
from reconciler.observe.settings_php.model import (
    DYNAMIC,
    MAX_DEPTH,
    MAX_INPUT,
    MAX_TOKENS,
    DatabaseSettings,
    SettingsInfo,
    _failed,
    _ParseError,
)
from reconciler.observe.settings_php.statements import _Walker

__all__ = [
    "DYNAMIC",
    "MAX_DEPTH",
    "MAX_INPUT",
    "MAX_TOKENS",
    "DatabaseSettings",
    "SettingsInfo",
    "parse_settings",
]


def parse_settings(text: str | bytes) -> SettingsInfo:
    """Parse the PHP *text* of a ``settings.php``; never raises, never executes anything.

    Bytes are decoded as UTF-8 with replacement characters for invalid sequences.
    """
    return _parse(text, fast=True)


def _slow_parse(text: str | bytes) -> SettingsInfo:
    """:func:`parse_settings` without the fast path: the reference the fast path must match."""
    return _parse(text, fast=False)


def _parse(text: str | bytes, *, fast: bool) -> SettingsInfo:
    try:
        if len(text) > MAX_INPUT:
            return _failed(f"input larger than {MAX_INPUT} bytes")
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if fast and (result := _fast_parse(text)) is not None:
            return result
        toks, match = _lex(text)
        walker = _Walker(toks, match)
        walker.run()
        return walker.store.result()
    except _ParseError as exc:
        return _failed(exc.message)
    except RecursionError:  # not expected: nesting is bounded well below the limit
        return _failed(f"nesting deeper than {MAX_DEPTH}")
    except Exception:  # a bug here must not take the observer down; the message holds no input
        return _failed("internal parser error")
