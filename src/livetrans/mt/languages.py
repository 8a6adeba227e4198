"""One table between Whisper's language codes, FLORES-200 (NLLB) and M2M-100 codes.

A user or Whisper names a language with a short code (``zh``, ``es``, ``zh-TW``);
NLLB wants a FLORES-200 code (``zho_Hans``), M2M-100 its own ISO 639-1 code
(``zh``), opus-mt models ISO 639-1 or 639-3 codes in their names. Everything here
resolves to a :class:`Language` whose ``flores`` code is the identity of the
language inside livetrans (two codes name the same language when their FLORES
codes are equal).

Chinese is handled deliberately:

- ``zh``, ``zh-CN``, ``zh-SG``, ``zh-Hans``, ``cmn``, ``zho`` → ``zho_Hans``
  (Whisper's ``zh`` is Mandarin; its text is taken as Simplified Chinese);
- ``zh-TW``, ``zh-HK``, ``zh-MO``, ``zh-Hant`` → ``zho_Hant`` (written Chinese in
  Traditional script; Hong Kong captions are usually written standard Chinese);
- ``yue`` (Whisper's Cantonese), ``yue-HK``, ``zh-yue`` → ``yue_Hant`` (written
  Cantonese). M2M-100 has neither Traditional Chinese nor Cantonese, so those are
  refused for M2M-100 rather than silently given Simplified Mandarin.

A FLORES-200 code outside the table (``ace_Arab``...) is accepted as itself; the
model check then decides whether the chosen model has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import LanguageError

_FLORES_RE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")


@dataclass(frozen=True)
class Language:
    """A language as each model family names it; ``None`` where a family lacks it."""

    code: str  # livetrans' short tag: Whisper's code, or a BCP-47 tag where Whisper has none
    name: str
    flores: str  # FLORES-200 / NLLB code, the identity of the language
    whisper: str | None  # the code Whisper detects and emits
    m2m: str | None  # M2M-100 code (token __xx__)
    aliases: tuple[str, ...] = ()  # other tags and ISO 639-3 codes (opus-mt names)


# code, name, flores, whisper, m2m, aliases
_TABLE: tuple[tuple[str, str, str, str | None, str | None, tuple[str, ...]], ...] = (
    ("en", "English", "eng_Latn", "en", "en", ("eng", "en-US", "en-GB")),
    ("zh", "Chinese (Simplified)", "zho_Hans", "zh", "zh",
     ("zh-CN", "zh-SG", "zh-Hans", "zh-Hans-CN", "cmn", "zho", "chi", "cmn-Hans")),
    ("zh-Hant", "Chinese (Traditional)", "zho_Hant", None, None,
     ("zh-TW", "zh-HK", "zh-MO", "zh-Hant-TW", "zh-Hant-HK", "cmn-Hant")),
    ("yue", "Cantonese", "yue_Hant", "yue", None, ("yue-HK", "yue-Hant", "zh-yue")),
    ("es", "Spanish", "spa_Latn", "es", "es", ("spa", "es-ES", "es-MX", "es-419")),
    ("pt", "Portuguese", "por_Latn", "pt", "pt", ("por", "pt-BR", "pt-PT")),
    ("fr", "French", "fra_Latn", "fr", "fr", ("fra", "fre", "fr-FR", "fr-CA")),
    ("de", "German", "deu_Latn", "de", "de", ("deu", "ger", "de-DE")),
    ("it", "Italian", "ita_Latn", "it", "it", ("ita",)),
    ("ja", "Japanese", "jpn_Jpan", "ja", "ja", ("jpn", "jap")),
    ("ko", "Korean", "kor_Hang", "ko", "ko", ("kor",)),
    ("ru", "Russian", "rus_Cyrl", "ru", "ru", ("rus",)),
    ("ar", "Arabic", "arb_Arab", "ar", "ar", ("ara", "arb")),
    ("hi", "Hindi", "hin_Deva", "hi", "hi", ("hin",)),
    ("vi", "Vietnamese", "vie_Latn", "vi", "vi", ("vie",)),
    ("th", "Thai", "tha_Thai", "th", "th", ("tha",)),
    ("id", "Indonesian", "ind_Latn", "id", "id", ("ind",)),
    ("ms", "Malay", "zsm_Latn", "ms", "ms", ("msa", "zsm", "may")),
    ("tl", "Tagalog", "tgl_Latn", "tl", "tl", ("tgl", "fil")),
    ("tr", "Turkish", "tur_Latn", "tr", "tr", ("tur",)),
    ("nl", "Dutch", "nld_Latn", "nl", "nl", ("nld", "dut")),
    ("pl", "Polish", "pol_Latn", "pl", "pl", ("pol",)),
    ("uk", "Ukrainian", "ukr_Cyrl", "uk", "uk", ("ukr",)),
    ("cs", "Czech", "ces_Latn", "cs", "cs", ("ces", "cze")),
    ("sk", "Slovak", "slk_Latn", "sk", "sk", ("slk", "slo")),
    ("sv", "Swedish", "swe_Latn", "sv", "sv", ("swe",)),
    ("da", "Danish", "dan_Latn", "da", "da", ("dan",)),
    ("no", "Norwegian (Bokmål)", "nob_Latn", "no", "no", ("nb", "nob", "nor")),
    ("fi", "Finnish", "fin_Latn", "fi", "fi", ("fin",)),
    ("el", "Greek", "ell_Grek", "el", "el", ("ell", "gre")),
    ("he", "Hebrew", "heb_Hebr", "he", "he", ("heb", "iw")),
    ("hu", "Hungarian", "hun_Latn", "hu", "hu", ("hun",)),
    ("ro", "Romanian", "ron_Latn", "ro", "ro", ("ron", "rum")),
    ("bg", "Bulgarian", "bul_Cyrl", "bg", "bg", ("bul",)),
    ("hr", "Croatian", "hrv_Latn", "hr", "hr", ("hrv",)),
    ("sr", "Serbian", "srp_Cyrl", "sr", "sr", ("srp",)),
    ("sl", "Slovenian", "slv_Latn", "sl", "sl", ("slv",)),
    ("lt", "Lithuanian", "lit_Latn", "lt", "lt", ("lit",)),
    ("lv", "Latvian", "lvs_Latn", "lv", "lv", ("lav", "lvs")),
    ("et", "Estonian", "est_Latn", "et", "et", ("est",)),
    ("ca", "Catalan", "cat_Latn", "ca", "ca", ("cat",)),
    ("fa", "Persian", "pes_Arab", "fa", "fa", ("fas", "per", "pes")),
    ("ur", "Urdu", "urd_Arab", "ur", "ur", ("urd",)),
    ("bn", "Bengali", "ben_Beng", "bn", "bn", ("ben",)),
    ("ta", "Tamil", "tam_Taml", "ta", "ta", ("tam",)),
    ("te", "Telugu", "tel_Telu", "te", None, ("tel",)),
    ("mr", "Marathi", "mar_Deva", "mr", "mr", ("mar",)),
    ("ne", "Nepali", "npi_Deva", "ne", "ne", ("nep", "npi")),
    ("km", "Khmer", "khm_Khmr", "km", "km", ("khm",)),
    ("my", "Burmese", "mya_Mymr", "my", "my", ("mya", "bur")),
    ("sw", "Swahili", "swh_Latn", "sw", "sw", ("swa", "swh")),
)

LANGUAGES: tuple[Language, ...] = tuple(
    Language(code=c, name=n, flores=f, whisper=w, m2m=m, aliases=a) for c, n, f, w, m, a in _TABLE
)


def _key(code: str) -> str:
    return code.strip().replace("_", "-").lower()


@lru_cache(maxsize=1)
def _index() -> dict[str, Language]:
    index: dict[str, Language] = {}
    for lang in LANGUAGES:
        for tag in (lang.code, lang.flores, *lang.aliases):
            index.setdefault(_key(tag), lang)
    return index


@lru_cache(maxsize=1)
def _by_flores() -> dict[str, Language]:
    return {lang.flores: lang for lang in LANGUAGES}


def resolve_language(code: str) -> Language:
    """The :class:`Language` for any accepted code; LanguageError for an unknown one."""
    found = _index().get(_key(code))
    if found is not None:
        return found
    stripped = code.strip()
    if _FLORES_RE.match(stripped):
        return Language(code=stripped, name=stripped, flores=stripped, whisper=None, m2m=None)
    raise LanguageError(
        f"unknown language code {code!r}: use a code such as en, es, zh, zh-TW, yue"
        " or a FLORES-200 code such as spa_Latn (see docs/translation.md)"
    )


def language_from_flores(flores: str) -> Language:
    """The table entry for a FLORES-200 code, or a bare one for codes outside the table."""
    found = _by_flores().get(flores)
    return found or Language(code=flores, name=flores, flores=flores, whisper=None, m2m=None)


def language_from_m2m(code: str) -> Language | None:
    """The table entry whose M2M-100 code is ``code`` (None when the table lacks it)."""
    for lang in LANGUAGES:
        if lang.m2m == code:
            return lang
    return None


def same_language(a: str, b: str) -> bool:
    """Whether two codes name the same language (``zh`` and ``zh-CN`` do; ``zh`` and
    ``zh-TW`` do not: different scripts)."""
    return resolve_language(a).flores == resolve_language(b).flores
