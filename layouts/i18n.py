"""The message catalog: every piece of UI text, Chinese first, English second.

The text itself is data, in ``layouts/messages.yaml`` (``key: {zh: …, en: …}``)
where translators' tools can read it; it is loaded once, at import. Layouts
never hold literal UI text; they call :func:`t` with a key and the language of
the page (``zh`` by default, ``en`` with ``?lang=en``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

LANGS = ("zh", "en")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CATALOG = Path(__file__).with_name("messages.yaml")


def load_catalog(path: Path = CATALOG) -> dict[str, tuple[str, str]]:
    """``key -> (zh, en)`` from the catalog file (``key: {zh: …, en: …}``)."""
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    messages = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != set(LANGS):
            raise ValueError(f"{path.name}: {key} needs exactly {', '.join(LANGS)}")
        messages[key] = (str(entry["zh"]), str(entry["en"]))
    return messages


MESSAGES: dict[str, tuple[str, str]] = load_catalog()


def duty_text(duty: str, lang: str = "zh") -> str:
    """A user's duty in words. An account outside the site's roster has its
    role for a duty (``worker``): that is put in words too; an unknown duty
    from a site file shows as is."""
    for key in (f"duty.{duty}", f"role.{duty}"):
        if key in MESSAGES:
            return t(key, lang)
    return duty


def lang_of(value: str | None) -> str:
    """The language for a ``?lang=`` value: ``en`` if asked for, else ``zh``."""
    return "en" if (value or "").lower().startswith("en") else "zh"


def t(key: str, lang: str = "zh", **values: object) -> str:
    """The text for ``key`` in ``lang``, with ``{name}`` placeholders filled."""
    zh, en = MESSAGES[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def age_text(age_ms: int | None, lang: str = "zh") -> str:
    """How old a piece of data is, in words: "12秒前", "3 min ago"."""
    if age_ms is None:
        return t("age.never", lang)
    seconds = max(0, age_ms // 1000)
    if seconds < 120:
        return t("age.seconds", lang, n=seconds)
    if seconds < 7200:
        return t("age.minutes", lang, n=seconds // 60)
    return t("age.hours", lang, n=seconds // 3600)
