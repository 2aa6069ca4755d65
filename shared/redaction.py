"""Redaction of personal data in free text, Chinese and English: pure functions, no I/O.

:func:`redact` replaces what it finds with a bracketed label (``[email]``, ``[phone]`` ...), so a
redacted text still reads ("please call [phone] after six") and says what was there:

* ``[email]`` - addresses (ASCII local part, ``@`` or the full-width ``＠``);
* ``[card number]`` - 13 to 19 digits (spaces or dashes between groups) passing the Luhn check;
* ``[ID number]`` - a Chinese resident ID (18 characters, birth date and ISO 7064 check character),
  a number after 身份证号 / 证件号 / "ID number", passport-like numbers (1-2 capital letters and 7-8
  digits, or any number after 护照 / "passport"), US social security numbers (``123-45-6789``);
* ``[phone]`` - Chinese mobiles (``138 0013 8000``, with ``+86``/``0086``), Chinese landlines
  (``010-12345678``, ``(0755) 2678 1234``, an extension), international numbers with ``+``/``00``,
  North American ``(555) 123-4567`` / ``555-123-4567``;
* ``[address]`` - Chinese addresses of administrative units, roads, numbers, estates and rooms
  (``上海市浦东新区世纪大道100号5楼502室``; at least two parts, or a road with its number) and
  English street addresses (``221B Baker Street, London NW1 6XE``; a number, capitalised words, a
  street type) with UK postcodes;
* and what is known about the person (:class:`Known`): their names (``[name]``: the full name, each
  Latin word of it, a Chinese given name of two characters or more, the surname with an honorific
  such as 王女士), their own email, phone (in any spacing; matched on its last eight digits) and
  member id (``[member id]``).

Full-width letters, digits and signs count as their ASCII forms. Spans found by several rules are merged into one. The rules are
heuristics: see docs/privacy.md for what they miss and what they may take too much of.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

LABELS = {
    "email": "[email]", "card": "[card number]", "id": "[ID number]", "phone": "[phone]",
    "address": "[address]", "name": "[name]", "member_id": "[member id]",
}


@dataclass(frozen=True)
class Known:
    """What is known about the person whose data is redacted (from their decrypted record)."""

    names: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str | None = None, email: str | None = None, phone: str | None = None,
           member_id: str | None = None) -> "Known":
        return cls(tuple(n for n in (name,) if n), tuple(e for e in (email,) if e),
                   tuple(p for p in (phone,) if p), tuple(m for m in (member_id,) if m))


# -- the rules -------------------------------------------------------------------------------------
_NOT_WORD_BEFORE = r"(?<![A-Za-z0-9_])"
_NOT_WORD_AFTER = r"(?![A-Za-z0-9_])"

EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+\s?[@＠]\s?[A-Za-z0-9\-]+(?:[.．][A-Za-z0-9\-]+)*[.．][A-Za-z]{2,24}")

CARD = re.compile(r"(?<![\d+])\d(?:[ \-]?\d){12,18}(?!\d)")

CN_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}[ ]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[ ]?\d{3}[\dXx]"
    r"(?![0-9A-Za-z])")
_ID_VALUE = r"[A-Za-z0-9](?:[A-Za-z0-9\-]|\s(?=\d)){4,24}[A-Za-z0-9]"  # spaces only between digit groups
ID_AFTER_WORD = re.compile(
    r"(?:(?:居民)?身份证|证件|护照)(?:号码|号)?\s*(?:是|为|[:：#])?\s*(" + _ID_VALUE + ")"
    r"|(?i:\bpassport(?:\s*(?:no\.?|number|#))?|\bID\s*(?:number|no\.?|#)|\bSSN|\bsocial\s+security(?:\s+number)?)"
    r"\s*(?:is\s*)?[:#]?\s*(" + _ID_VALUE + ")")
PASSPORT = re.compile(_NOT_WORD_BEFORE + r"[A-Z]{1,2}\d{7,8}" + _NOT_WORD_AFTER)
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")

CN_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)\s?86[\s\-]?)?1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}(?!\d)")
CN_LANDLINE = re.compile(r"(?<![\d+])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[\s\-]?[2-9]\d{2,3}[\s\-]?\d{4}"
                         r"(?:\s?(?:转|分机|ext\.?|x)\s?\d{1,5})?(?!\d)")
INTERNATIONAL = re.compile(r"(?<![\w+])(?:\+\s?|00)[1-9]\d{0,2}(?:[\s.\-]?\(?\d{1,5}\)?){2,6}(?!\d)")
NANP = re.compile(r"(?<![\d\-.])(?:\(\d{3}\)\s?|\d{3}[\-.\s])\d{3}[\-.\s]\d{4}(?![\d\-])")
DIGIT_RUN = re.compile(r"[+\d(（][\d\s().（）\-]{5,}\d")

_C = r"[\u4e00-\u9fff]"
# characters that begin a sentence's verb or pronoun, never a place name: "我在杭州市..." keeps "我在"
_NO_START = r"(?!地址|住址|位于|收货|[址在住于到往从是的我你他她和与及把被给向对寄送发至去来回买卖了])"
_SEP = r"[\s\u3000]?"
_PROVINCE = (r"(?:北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|"
             r"海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门)"
             r"(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)?")
_NUMERAL = r"[\d一二三四五六七八九十百零〇]"
ZH_ADDRESS = re.compile(
    rf"(?P<province>{_PROVINCE})?{_SEP}"
    rf"(?P<city>{_NO_START}{_C}{{1,5}}?(?:市|自治州|地区|盟))?{_SEP}"
    rf"(?P<district>{_NO_START}{_C}{{1,6}}?(?:区|县|旗))?{_SEP}"
    rf"(?P<town>{_NO_START}{_C}{{1,6}}?(?:镇|乡|街道))?{_SEP}"
    rf"(?P<road>{_NO_START}[\u4e00-\u9fff\dA-Za-z]{{1,10}}?(?:大道|大街|路|街|巷|弄|胡同|道(?={_SEP}{_NUMERAL}{{1,5}}\s?[号號])))?{_SEP}"
    rf"(?P<number>{_NUMERAL}{{1,5}}\s?(?:号|號)(?:院)?)?{_SEP}"
    rf"(?P<estate>{_NO_START}{_C}{{2,8}}?(?:小区|花园|公寓|大厦|广场|家园|新村|苑))?{_SEP}"
    rf"(?P<building>(?:[\dA-Za-z一二三四五六七八九十]{{1,4}}\s?(?:号楼|栋|幢|座|单元|楼|层|室|户|号)[\s\-]?)+)?")
_STREET_TYPES = (r"Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|"
                 r"Close|Crescent|Parkway|Pkwy|Highway|Hwy|Square|Sq|Row|Gardens|Grove|Hill|Walk|Mews")
UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
EN_ADDRESS = re.compile(
    r"(?<![\w])(?:(?:Flat|Apt\.?|Apartment|Unit|Suite|Ste\.?)\s*[\w-]{1,5},?\s+)?"
    r"\d{1,5}[A-Za-z]?(?:-\d{1,5})?\s+(?:[A-Z][A-Za-z'’.\-]*\s+){1,4}"
    rf"(?:{_STREET_TYPES})\b\.?"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
    r"(?:,?\s*(?:Apt\.?|Apartment|Unit|Suite|Ste\.?|Flat|#)\s*[\w-]{1,6})?"
    r"(?:,\s*[A-Z][A-Za-z'’.\-]*(?:\s+[A-Z][A-Za-z'’.\-]*){0,3})?"
    r"(?:,?\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"
    rf"(?:,?\s*{UK_POSTCODE}\b)?")
UK_POSTCODE_ALONE = re.compile(rf"(?<![\w]){UK_POSTCODE}(?![\w])")

HONORIFICS = ("先生", "女士", "小姐", "太太", "老师", "师傅", "阿姨", "叔叔", "经理", "总")
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文",
                     "司徒", "夏侯", "令狐", "端木", "南宫", "独孤", "万俟", "闻人", "澹台")


# -- checks ------------------------------------------------------------------------------------------
def digits(text: str) -> str:
    """The decimal digits of ``text`` as ASCII (full-width digits included)."""
    return "".join(str(int(ch)) for ch in text if ch.isdecimal())


def luhn_valid(number: str) -> bool:
    total, double = 0, False
    for ch in reversed(number):
        n = int(ch)
        if double:
            n = n * 2 - 9 if n > 4 else n * 2
        total, double = total + n, not double
    return total % 10 == 0


def cn_id_valid(number: str) -> bool:
    """The ISO 7064 MOD 11-2 check character of an 18-character resident ID."""
    body = "".join(ch for ch in number if not ch.isspace())
    head = digits(body[:17])
    if len(body) != 18 or len(head) != 17:
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    expected = "10X98765432"[sum(int(d) * w for d, w in zip(head, weights)) % 11]
    last = body[17].upper()
    return (last if last == "X" else digits(last)) == expected


def _is_complaint_number(text: str) -> bool:
    from shared.identifiers import InvalidComplaintNumber, normalize_complaint_number

    try:
        normalize_complaint_number(text)
    except InvalidComplaintNumber:
        return False
    return True


# -- finding --------------------------------------------------------------------------------------------
Span = tuple[int, int, str]
# full-width ASCII (a Chinese keyboard's digits, letters, ＠) and the ideographic space, one for one,
# so that the rules match them and the spans found still fit the original text
_HALF_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _spans(text: str, known: Known) -> list[Span]:
    text = text.translate(_HALF_WIDTH)
    found: list[Span] = []
    add = found.append
    for m in EMAIL.finditer(text):
        add((m.start(), m.end(), "email"))
    for m in CN_ID.finditer(text):
        if cn_id_valid(m.group()):
            add((m.start(), m.end(), "id"))
    for m in ID_AFTER_WORD.finditer(text):
        group = 1 if m.group(1) else 2
        if any(ch.isdecimal() for ch in m.group(group)):
            add((m.start(group), m.end(group), "id"))
    for m in SSN.finditer(text):
        add((m.start(), m.end(), "id"))
    for m in PASSPORT.finditer(text):
        if not _is_complaint_number(m.group()):
            add((m.start(), m.end(), "id"))
    for m in CARD.finditer(text):
        number = digits(m.group())
        if 13 <= len(number) <= 19 and luhn_valid(number):
            add((m.start(), m.end(), "card"))
    for pattern in (CN_MOBILE, CN_LANDLINE, NANP):
        for m in pattern.finditer(text):
            add((m.start(), m.end(), "phone"))
    for m in INTERNATIONAL.finditer(text):
        if 8 <= len(digits(m.group())) <= 15:
            add((m.start(), m.end(), "phone"))
    for m in ZH_ADDRESS.finditer(text):
        if m.end() > m.start() and _is_zh_address(m):
            add(_trimmed(text, m.start(), m.end(), "address"))
    for pattern in (EN_ADDRESS, UK_POSTCODE_ALONE):
        for m in pattern.finditer(text):
            add(_trimmed(text, m.start(), m.end(), "address"))
    found += _known_spans(text, known)
    return found


def _trimmed(text: str, start: int, end: int, label: str) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end, label


def _is_zh_address(m: re.Match[str]) -> bool:
    parts = {k for k, v in m.groupdict().items() if v}
    admin = len(parts & {"province", "city", "district", "town"})
    return bool(("road" in parts and "number" in parts) or admin >= 2
                or (admin and parts & {"road", "estate", "number", "building"})
                or ("estate" in parts and "building" in parts))


def _known_spans(text: str, known: Known) -> list[Span]:
    found: list[Span] = []
    for email in known.emails:
        for m in re.finditer(re.escape(email.strip()), text, re.IGNORECASE):
            found.append((m.start(), m.end(), "email"))
    tails = [digits(p)[-8:] for p in known.phones if len(digits(p)) >= 7]
    if tails:
        for m in DIGIT_RUN.finditer(text):
            run = digits(m.group())
            if len(run) >= 7 and any(run.endswith(t) or t.endswith(run) for t in tails):
                found.append((m.start(), m.end(), "phone"))
    for member_id in known.member_ids:
        value = member_id.strip()
        if len(value) < 3:
            continue
        edge_before = _NOT_WORD_BEFORE if value[0].isalnum() else ""
        edge_after = _NOT_WORD_AFTER if value[-1].isalnum() else ""
        for m in re.finditer(edge_before + re.escape(value) + edge_after, text, re.IGNORECASE):
            found.append((m.start(), m.end(), "member_id"))
    for form in {f for name in known.names for f in name_forms(name)}:
        if _is_cjk(form):
            pattern = re.escape(form)
        else:
            pattern = r"(?<![A-Za-z])" + r"\s+".join(map(re.escape, form.split())) + r"(?![A-Za-z])"
        for m in re.finditer(pattern, text, re.IGNORECASE):
            found.append((m.start(), m.end(), "name"))
    return found


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def name_forms(name: str) -> list[str]:
    """The forms of a person's name a text may use: the full name; for a Latin name each word of two
    letters or more; for a Chinese name the given name (two characters or more) and the surname with
    each honorific (王女士, 王先生 ...)."""
    full = " ".join(name.split())
    if not full:
        return []
    forms = [full]
    if _is_cjk(full):
        compact = full.replace(" ", "").replace("·", "")
        forms.append(compact)
        surname = next((s for s in COMPOUND_SURNAMES if compact.startswith(s)), compact[:1])
        given = compact[len(surname):]
        if len(given) >= 2:
            forms.append(given)
        if len(compact) >= 2:
            forms += [surname + h for h in HONORIFICS]
        for part in re.split(r"[\s·]+", full):  # a foreign name in Chinese: 约翰·史密斯
            if len(part) >= 2 and part != full:
                forms.append(part)
    else:
        forms += [w for w in re.split(r"[\s,.'’\-]+", full) if len(w) >= 2 and w.isalpha()]
    return list(dict.fromkeys(f for f in forms if f))


def _merge(spans: Iterable[Span]) -> list[Span]:
    merged: list[list[Any]] = []
    for start, end, label in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if merged and (start < merged[-1][1] or (start == merged[-1][1] and label == merged[-1][2])):
            merged[-1][1] = max(merged[-1][1], end)
            continue
        merged.append([start, end, label])
    return [(s, e, label) for s, e, label in merged]


# -- redacting ----------------------------------------------------------------------------------------
def redact_counting(text: str, known: Known = Known()) -> tuple[str, Counter[str]]:
    """The text with every span found replaced by its label, and how many of each kind were replaced."""
    out, last, counts = [], 0, Counter()
    for start, end, label in _merge(_spans(text, known)):
        out += [text[last:start], LABELS[label]]
        counts[label] += 1
        last = end
    out.append(text[last:])
    return "".join(out), counts


def redact(text: str | None, known: Known = Known()) -> str | None:
    """``text`` with personal data replaced by labels (None stays None)."""
    if not text:
        return text
    return redact_counting(text, known)[0]


def redact_tree(value: Any, known: Known = Known()) -> Any:
    """Every string inside dicts and lists redacted (keys are kept: they are field names)."""
    if isinstance(value, str):
        return redact(value, known)
    if isinstance(value, dict):
        return {k: redact_tree(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v, known) for v in value]
    return value
