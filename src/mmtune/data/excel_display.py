"""An Excel cell -> the text Excel shows for it, from its stored value and its number format.

openpyxl hands over the stored value: a cell showing ``12.50`` holds 12.5, ``25%`` holds 0.25, a
date holds a datetime. A prompt / completion sheet is written by someone reading the displayed
text, so an answer of ``12.50`` must train as ``12.50``, not ``12.5``. This module applies the
number format the way Excel does, for the formats sheets actually use:

- ``General``: the shortest text of the number (``42``, not ``42.0``); TRUE / FALSE for booleans;
- numbers: ``0``, ``0.00``, ``#,##0.00``, ``0%``, ``0.00E+00``, thousands scaling (``#,##0,``),
  literals (``"EUR "0.00``, ``\\x``, ``$ - + ( ) :``), currency brackets (``[$€-407]``), colours,
  and the sections for positive; negative; zero numbers (text cells read as written);
- dates and times: ``yyyy-mm-dd``, ``mm-dd-yy``, ``d-mmm-yy``, ``h:mm AM/PM``, ``mm:ss.0``,
  elapsed ``[h]:mm:ss``, with English month and day names (what Excel shows in English).

A format it does not understand (conditions such as ``[>100]``, fractions ``# ?/?``) or that hides
the value (``;;;``) gives the general text of the value: the value is never lost.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

_MONTHS = ("January February March April May June July August September October November December").split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_COLOURS = {"black", "blue", "cyan", "green", "magenta", "red", "white", "yellow"}
_EPOCH = dt.datetime(1899, 12, 30)  # serial day 0 of Excel's 1900 date system (as openpyxl reads it)
_DATE_LETTERS = "ymdhs"
_DIGITS = "0#?"
# Enough precision for any double at any number of decimals: 1e308 with 30 decimals.
_CONTEXT = decimal.Context(prec=400, rounding=decimal.ROUND_HALF_UP)

Token = tuple[str, str]


class Unsupported(ValueError):
    """A format (or a part of one) this module does not render; the caller shows the general text."""


def cell_text(value: Any, number_format: str | None) -> str | None:
    """The text Excel shows for ``value`` under ``number_format``; None for an empty cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        return value
    try:
        text = _formatted(value, number_format or "General")
    except (Unsupported, ArithmeticError, OverflowError, ValueError):
        text = None
    return text if text else general_text(value)


def general_text(value: Any) -> str:
    """Excel's ``General``: numbers without a trailing ``.0``; dates in ISO form (the fallback)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# -- sections and tokens ---------------------------------------------------------------------------


def _sections(fmt: str) -> list[str]:
    """Split on ``;`` outside quotes and escapes."""
    out, cur, quoted, i = [], "", False, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "\\" and not quoted:
            cur += fmt[i : i + 2]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == ";" and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return [*out, cur]


def _bracket(content: str) -> list[Token]:
    low = content.lower()
    if low and low[0] in "hms" and set(low) == {low[0]}:
        return [("elapsed", low)]
    if content.startswith("$"):  # [$€-407]: a currency symbol and a locale; [$-409]: a locale only
        symbol = content[1:].split("-", 1)[0]
        return [("lit", symbol)] if symbol else []
    if low in _COLOURS or low.startswith("color"):
        return []
    raise Unsupported(f"[{content}]")  # conditions ([>100]), [DBNum1], ...


def tokens(section: str) -> list[Token]:
    """One section as (kind, text) tokens: lit, num (0 # ?), point, comma, percent, exp (E+ / E-),
    date (a run of y m d h s), elapsed ([h]), ampm, slash, general, at."""
    out: list[Token] = []
    i, n = 0, len(section)
    while i < n:
        c, rest = section[i], section[i:].lower()
        if c == '"':
            end = section.find('"', i + 1)
            end = n if end < 0 else end
            out.append(("lit", section[i + 1 : end]))
            i = end + 1
        elif c == "\\":
            out.append(("lit", section[i + 1 : i + 2]))
            i += 2
        elif c in "_*":  # padding to the width of a character, fill with a character: no text
            i += 2
        elif c == "[":
            end = section.find("]", i)
            if end < 0:
                raise Unsupported(section)
            out.extend(_bracket(section[i + 1 : end]))
            i = end + 1
        elif rest.startswith("general"):
            out.append(("general", ""))
            i += 7
        elif rest.startswith(("am/pm", "a/p")):
            size = 5 if rest.startswith("am/pm") else 3
            out.append(("ampm", section[i : i + size]))
            i += size
        elif c in "eE" and section[i + 1 : i + 2] in ("+", "-"):
            out.append(("exp", "E" + section[i + 1]))
            i += 2
        elif c.lower() in _DATE_LETTERS:
            j = i
            while j < n and section[j].lower() == c.lower():
                j += 1
            out.append(("date", section[i:j].lower()))
            i = j
        else:
            kind = {".": "point", ",": "comma", "%": "percent", "/": "slash", "@": "at"}.get(c)
            out.append(("num", c) if c in _DIGITS else (kind, c) if kind else ("lit", c))
            i += 1
    return out


def _is_date(toks: list[Token]) -> bool:
    return any(k in ("date", "elapsed", "ampm") for k, _ in toks)


# -- choosing the section --------------------------------------------------------------------------


def _formatted(value: Any, fmt: str) -> str | None:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    sections = _sections(fmt)
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        toks = tokens(sections[0])
        return _date(value, toks) if _is_date(toks) else None
    if not isinstance(value, int | float):
        return None
    if value < 0 and len(sections) >= 2:
        toks, shown, sign = tokens(sections[1]), -value, False
    elif value == 0 and len(sections) >= 3:
        toks, shown, sign = tokens(sections[2]), value, False
    else:
        toks, shown, sign = tokens(sections[0]), abs(value), value < 0
    if _is_date(toks):
        return _date(_EPOCH + dt.timedelta(days=value), toks)
    if any(k == "num" for k, _ in toks):
        return _number(shown, toks, sign)
    if any(k in ("exp", "slash", "at") for k, _ in toks):
        raise Unsupported(fmt)
    # General, possibly with literals around it, or literals alone (an accounting zero shows "-")
    body = general_text(shown)
    text = "".join(body if k == "general" else t for k, t in toks)
    return ("-" + text) if sign and any(k == "general" for k, _ in toks) else text


# -- numbers ---------------------------------------------------------------------------------------


def _number(value: int | float, toks: list[Token], sign: bool) -> str:
    if any(k in ("slash", "general", "at") for k, _ in toks):
        raise Unsupported("fraction or mixed section")
    x = decimal.Decimal(repr(value)) if isinstance(value, float) else decimal.Decimal(value)
    x = _CONTEXT.multiply(x, decimal.Decimal(100) ** sum(1 for k, _ in toks if k == "percent"))
    digit_at = [i for i, (k, _) in enumerate(toks) if k == "num"]
    last_digit = digit_at[-1]
    # Commas right after the last digit scale by 1000 each ("#,##0," shows thousands); a comma
    # between digits asks for thousands separators.
    scale = 0
    for k, _ in toks[last_digit + 1 :]:
        if k != "comma":
            break
        scale += 1
    x = _CONTEXT.divide(x, decimal.Decimal(1000) ** scale)
    point = next((i for i, (k, _) in enumerate(toks) if k in ("point", "exp")), len(toks))
    if toks[point:] and toks[point][0] == "point":
        exp_at = next((i for i, (k, _) in enumerate(toks) if k == "exp"), len(toks))
    else:
        exp_at = point
    int_places = [t for k, t in toks[:point] if k == "num"]
    frac_places = [t for k, t in toks[point:exp_at] if k == "num"]
    thousands = any(k == "comma" and digit_at[0] < i < last_digit for i, (k, _) in enumerate(toks[:point]))
    exponent = None
    if exp_at < len(toks):
        x, exponent = _mantissa(x, max(1, len(int_places)), len(frac_places))
    rounded = _CONTEXT.quantize(x, decimal.Decimal(1).scaleb(-len(frac_places)))
    whole, _, frac = f"{rounded:f}".partition(".")
    int_text = _int_text(whole.lstrip("0"), int_places, thousands)
    frac_text = _frac_text(frac.ljust(len(frac_places), "0"), frac_places)
    # Digits fill the integer places from the right (000-00-0000 shows 123-45-6789), the first
    # place takes what is left; with thousands separators the places are one run of digits.
    pieces = [int_text] if thousands or len(int_places) < 2 else _spread(int_text, len(int_places))
    out: list[str] = []
    for i, (k, t) in enumerate(toks):
        if k == "num" and i < point:
            out.append(pieces.pop(0) if pieces else "")
        elif k == "num" and i < exp_at:
            continue
        elif k == "point" and i == point:  # ".50" has no integer places: the integer part goes here
            out.append(("" if int_places else int_text) + "." + frac_text)
        elif k == "exp" and exponent is not None:
            exp_digits = sum(1 for kk, _ in toks[i + 1 :] if kk == "num")
            mark = "-" if exponent < 0 else "+" if t == "E+" else ""
            out.append(f"E{mark}{abs(exponent):0{max(1, exp_digits)}d}")
            break
        elif k in ("lit", "percent", "point"):
            out.append(t)
    text = "".join(out).strip()
    return ("-" + text) if sign and rounded != 0 else text


def _mantissa(x: decimal.Decimal, int_digits: int, decimals: int) -> tuple[decimal.Decimal, int]:
    """``x`` as mantissa * 10**exponent with ``int_digits`` digits before the point."""
    if x == 0:
        return x, 0
    e = x.adjusted() - (int_digits - 1)
    m = x.scaleb(-e)
    if _CONTEXT.quantize(m, decimal.Decimal(1).scaleb(-decimals)) >= 10**int_digits:  # 9.999 -> 10.00
        e += 1
        m = x.scaleb(-e)
    return m, e


def _int_text(digits: str, places: list[str], thousands: bool) -> str:
    """The integer part: '0' places always show a digit, '?' a digit or a space, '#' a digit."""
    if not places:
        return digits
    first_zero = next((i for i, p in enumerate(places) if p == "0"), len(places))
    first_space = next((i for i, p in enumerate(places) if p in "0?"), len(places))
    digits = digits.rjust(len(places) - first_zero, "0")
    if thousands:
        digits = f"{int(digits):,}" if digits else ""
    return digits.rjust(len(places) - first_space, " ")


def _spread(text: str, n: int) -> list[str]:
    """``text`` over ``n`` places: one character each from the right, the rest in the first."""
    head, tail = text[: max(0, len(text) - (n - 1))], text[max(0, len(text) - (n - 1)) :]
    return [head, *([""] * (n - 1 - len(tail))), *tail]


def _frac_text(digits: str, places: list[str]) -> str:
    """The decimals: trailing zeros are hidden where the place is '#' (or a space where '?')."""
    out = list(digits[: len(places)])
    for i in range(len(places) - 1, -1, -1):
        if places[i] == "0" or out[i] != "0":
            break
        out[i] = " " if places[i] == "?" else ""
    return "".join(out)


# -- dates and times -------------------------------------------------------------------------------


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.time):
        return dt.datetime.combine(_EPOCH.date(), value)
    return _EPOCH + value  # a timedelta: a duration since the epoch


def _seconds(value: Any) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return (_as_datetime(value) - _EPOCH).total_seconds()


def _date(value: Any, toks: list[Token]) -> str:
    # Decimals of seconds: "ss.0" shows tenths; the value is rounded to what is shown, in whole
    # units of that precision so that 12.96 s under "ss.0" shows 13.0, never 12.10.
    decimals = max((len(_run(toks, i + 1, "num")) for i in range(len(toks)) if _seconds_point(toks, i)), default=0)
    units = round(_seconds(value) * 10**decimals)
    elapsed_neg = units < 0 and any(k == "elapsed" for k, _ in toks)
    secs, part = divmod(abs(units) if elapsed_neg else units, 10**decimals)
    when = _EPOCH + dt.timedelta(seconds=secs)
    twelve = any(k == "ampm" for k, _ in toks)
    out: list[str] = []
    i = 0
    while i < len(toks):
        k, t = toks[i]
        if k == "date":
            out.append(_date_part(t, when, twelve, _is_minute(toks, i)))
        elif k == "elapsed":
            unit = {"h": 3600, "m": 60, "s": 1}[t[0]]
            out.append(str(secs // unit).zfill(len(t)))
        elif k == "ampm":
            pm = when.hour >= 12
            word = ("PM" if pm else "AM") if len(t) == 5 else ("P" if pm else "A")
            out.append(word if t[0].isupper() else word.lower())
        elif _seconds_point(toks, i):
            out.append(f".{part:0{decimals}d}" if decimals else ".")
            i += 1 + len(_run(toks, i + 1, "num"))
            continue
        elif k in ("lit", "slash", "point", "comma", "percent", "num"):
            out.append(t)
        else:
            raise Unsupported(t)
        i += 1
    return ("-" if elapsed_neg else "") + "".join(out).strip()


def _seconds_point(toks: list[Token], i: int) -> bool:
    """The point of ``ss.00``: what follows it are decimals of a second."""
    return toks[i][0] == "point" and i > 0 and toks[i - 1][0] in ("date", "elapsed") and toks[i - 1][1][0] == "s"


def _run(toks: list[Token], start: int, kind: str) -> list[Token]:
    out = []
    for tok in toks[start:]:
        if tok[0] != kind:
            break
        out.append(tok)
    return out


def _is_minute(toks: list[Token], i: int) -> bool:
    """``m`` / ``mm`` is minutes right after hours or right before seconds, else the month."""
    if toks[i][1] not in ("m", "mm"):
        return False
    timed = [(j, t) for j, (k, t) in enumerate(toks) if k in ("date", "elapsed")]
    pos = [j for j, _ in timed].index(i)
    before = timed[pos - 1][1] if pos > 0 else ""
    after = timed[pos + 1][1] if pos + 1 < len(timed) else ""
    return before.startswith("h") or after.startswith("s")


def _date_part(t: str, when: dt.datetime, twelve: bool, minute: bool) -> str:
    c, n = t[0], len(t)
    if c == "y":
        return f"{when.year:04d}" if n >= 3 else f"{when.year % 100:02d}"
    if c == "m" and minute:
        return f"{when.minute:0{min(n, 2)}d}"
    if c == "m":
        name = _MONTHS[when.month - 1]
        return [str(when.month), f"{when.month:02d}", name[:3], name, name[0]][min(n, 5) - 1]
    if c == "d":
        name = _DAYS[when.weekday()]
        return [str(when.day), f"{when.day:02d}", name[:3], name][min(n, 4) - 1]
    if c == "h":
        hour = (when.hour % 12 or 12) if twelve else when.hour
        return f"{hour:0{min(n, 2)}d}"
    return f"{when.second:0{min(n, 2)}d}"
