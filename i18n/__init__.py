"""The language outreach speaks: English by default, Chinese (zh_CN) on request.

Every line a person reads goes through ``_("…")`` (``.format(...)`` after, never an
f-string inside). The language is chosen once per process from the environment —
``OUTREACH_LANG`` first, then ``LC_ALL`` / ``LC_MESSAGES`` / ``LANG`` of ``zh_CN.*`` (any
``zh``) — when this package is first imported, before Typer and Click build their help
texts; `use` switches it later (tests) and `language` for one block (the ledger service
answers each volunteer in their own language).

Catalogs are gettext's: ``i18n/locale/zh_CN/LC_MESSAGES/outreach.po``, compiled to ``.mo``
by ``make translations`` (Babel: extract, update, compile); the compiled catalog ships in
the package. Click's and Typer's own words ("Usage:", "Missing option", "Options") go
through the standard library's global gettext domain, which `use` points at the same
catalog; ``i18n/click_words.py`` lists the ones people meet so that they are extracted
and translated with ours. The glossary is in PRODUCT.md ("中文词汇").
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext as _gettext
import os
from pathlib import Path
from typing import Iterator, Mapping

DOMAIN = "outreach"
LOCALEDIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "zh_CN")
DEFAULT = "en"

_catalogs: dict[str, _gettext.NullTranslations] = {}
_process = DEFAULT
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("outreach_lang",
                                                                      default=None)


def normalise(value: str | None) -> str | None:
    """``zh_CN``, ``zh_CN.UTF-8``, ``zh-cn``, ``zh`` → ``zh_CN``; ``en*``/``C``/``POSIX`` →
    ``en``; anything else (or nothing) → None."""
    v = (value or "").strip().split(".")[0].split("@")[0].replace("-", "_").lower()
    if not v:
        return None
    if v == "zh" or v.startswith("zh_"):
        return "zh_CN"
    if v in ("c", "posix") or v == "en" or v.startswith("en_"):
        return "en"
    return None


def wanted(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for: OUTREACH_LANG, else LC_ALL, LC_MESSAGES,
    LANG (the first one set decides), else English."""
    env = os.environ if environ is None else environ
    explicit = normalise(env.get("OUTREACH_LANG"))
    if explicit:
        return explicit
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            return normalise(env[name]) or DEFAULT
    return DEFAULT


def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of a language (English: the identity)."""
    if lang not in _catalogs:
        if lang == DEFAULT:
            _catalogs[lang] = _gettext.NullTranslations()
        else:
            _catalogs[lang] = _gettext.translation(DOMAIN, LOCALEDIR, languages=[lang],
                                                   fallback=True)
    return _catalogs[lang]


def current() -> str:
    """The language in force here (a `language` block, else the process's)."""
    return _current.get() or _process


def use(lang: str) -> None:
    """Speak ``lang`` in this process from now on (also Click's and Typer's words)."""
    global _process
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    _process = lang
    # Click and Typer call the standard library's gettext(), which reads the global domain
    # and LANGUAGE at each call: point both at our catalog.
    _gettext.bindtextdomain(DOMAIN, str(LOCALEDIR))
    _gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = lang


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Speak ``lang`` (normalised; None or unknown: the process's) inside the block."""
    chosen = normalise(lang) or _process
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """The message in the current language (the English text when untranslated)."""
    return translations(current()).gettext(message)


def pgettext(context: str, message: str) -> str:
    """A short word whose meaning depends on where it stands (``pgettext("meeting",
    "due")`` 应开 vs ``pgettext("task", "due")`` 到期日)."""
    return translations(current()).pgettext(context, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a message for extraction without translating it now (module-level tables
    that are translated where they are shown)."""
    return message


use(wanted())
