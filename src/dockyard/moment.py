"""moment.js `format()` in the English locale: the date formats of metadata-action's
`{{date 'FORMAT'}}` and `{{commit_date 'FORMAT'}}`, so pasted rules give the same tags.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_LOCALE_FORMATS = {
    "LTS": "h:mm:ss A", "LT": "h:mm A", "L": "MM/DD/YYYY", "LL": "MMMM D, YYYY",
    "LLL": "MMMM D, YYYY h:mm A", "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "l": "M/D/YYYY", "ll": "MMM D, YYYY", "lll": "MMM D, YYYY h:mm A",
    "llll": "ddd, MMM D, YYYY h:mm A",
}
# Compiled on first use (see _lazy): only date expressions need them, and compiling
# costs milliseconds at every start of `dockyard plan`.
_LOCALE_TOKEN = (r"(\[[^\[]*\])|(\\)?(LTS|LT|LL?L?L?|l{1,4})", 0)
_FORMAT_TOKEN = (
    r"\[[^\[]*\]|(\\)?([Hh]mm(?:ss)?|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[o|w]?|W[o|W]?"
    r"|Qo?|N{1,5}|YYYYYY|YYYYY|YYYY|YY|y{2,4}|yo?|gg(?:ggg?)?|GG(?:GGG?)?|e|E|a|A|hh?|HH?"
    r"|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|.)",
    re.S,
)


@functools.cache
def _lazy(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def format_moment(when: datetime, fmt: str) -> str:
    """Format like moment.js `format()` in the English locale (metadata-action's dates)."""
    for _ in range(5):  # moment expands locale tokens (LL, LT...) up to five times
        expanded = _lazy(*_LOCALE_TOKEN).sub(
            lambda m: m.group(0) if m.group(1) or m.group(2) else _LOCALE_FORMATS[m.group(3)],
            fmt,
        )
        if expanded == fmt:
            break
        fmt = expanded
    out: list[str] = []
    for match in _lazy(*_FORMAT_TOKEN).finditer(fmt):
        text = match.group(0)
        token = match.group(2)
        if text.startswith("[") and len(text) > 1:
            out.append(text[1:-1])
        elif match.group(1) or token not in _TOKEN_FUNCTIONS:
            out.append((token or text).replace("\\", ""))
        else:
            out.append(_TOKEN_FUNCTIONS[token](when))
    return "".join(out)


def _fill(number: int, width: int, *, sign: bool = False) -> str:
    """moment's zeroFill: pad, never cut; a sign only when negative unless forced."""
    prefix = "-" if number < 0 else ("+" if sign else "")
    return prefix + str(abs(number)).zfill(width)


def _ordinal(number: int) -> str:
    teen = number % 100 // 10 == 1
    suffix = "th" if teen else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _js_weekday(day: date) -> int:
    return day.isoweekday() % 7  # Sunday is 0, as in JavaScript


def _week_of_year(day: date, dow: int, doy: int) -> tuple[int, int]:
    """moment's weekOfYear: (week, week-year) for a week starting on `dow` whose first
    week holds day `7 + dow - doy` of January. ISO is (1, 4); the English locale (0, 6)."""

    def first_week_offset(year: int) -> int:
        fwd = 7 + dow - doy
        fwdlw = (7 + _js_weekday(date(year, 1, fwd)) - dow) % 7
        return -fwdlw + fwd - 1

    def weeks_in_year(year: int) -> int:
        days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
        return (days - first_week_offset(year) + first_week_offset(year + 1)) // 7

    week = (day.timetuple().tm_yday - first_week_offset(day.year) - 1) // 7 + 1
    if week < 1:
        return week + weeks_in_year(day.year - 1), day.year - 1
    if week > weeks_in_year(day.year):
        return week - weeks_in_year(day.year), day.year + 1
    return week, day.year


def _offset(when: datetime, separator: str) -> str:
    minutes = int((when.utcoffset() or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{separator}{minutes % 60:02d}"


def _millis(when: datetime) -> int:
    return when.microsecond // 1000


def _hour12(when: datetime) -> int:
    return when.hour % 12 or 12


def _year_token(when: datetime) -> str:
    return _fill(when.year, 4) if when.year <= 9999 else f"+{when.year}"


def _fraction(digits: int) -> Callable[[datetime], str]:
    def render(when: datetime) -> str:
        millis = _millis(when)
        if digits <= 3:
            return _fill(millis // 10 ** (3 - digits), digits)
        return _fill(millis * 10 ** (digits - 3), digits)

    return render


def _week_token(dow: int, doy: int, part: int, render: Callable[[int], str]) -> Callable[
        [datetime], str]:
    return lambda when: render(_week_of_year(when.date(), dow, doy)[part])


_TOKEN_FUNCTIONS: Mapping[str, Callable[[datetime], str]] = {
    "M": lambda d: str(d.month),
    "Mo": lambda d: _ordinal(d.month),
    "MM": lambda d: _fill(d.month, 2),
    "MMM": lambda d: _MONTHS[d.month - 1][:3],
    "MMMM": lambda d: _MONTHS[d.month - 1],
    "D": lambda d: str(d.day),
    "Do": lambda d: _ordinal(d.day),
    "DD": lambda d: _fill(d.day, 2),
    "DDD": lambda d: str(d.timetuple().tm_yday),
    "DDDo": lambda d: _ordinal(d.timetuple().tm_yday),
    "DDDD": lambda d: _fill(d.timetuple().tm_yday, 3),
    "d": lambda d: str(_js_weekday(d)),
    "do": lambda d: _ordinal(_js_weekday(d)),
    "dd": lambda d: _WEEKDAYS[_js_weekday(d)][:2],
    "ddd": lambda d: _WEEKDAYS[_js_weekday(d)][:3],
    "dddd": lambda d: _WEEKDAYS[_js_weekday(d)],
    "e": lambda d: str(_js_weekday(d)),
    "E": lambda d: str(d.isoweekday()),
    "w": _week_token(0, 6, 0, str),
    "wo": _week_token(0, 6, 0, _ordinal),
    "ww": _week_token(0, 6, 0, lambda n: _fill(n, 2)),
    "W": _week_token(1, 4, 0, str),
    "Wo": _week_token(1, 4, 0, _ordinal),
    "WW": _week_token(1, 4, 0, lambda n: _fill(n, 2)),
    "gg": _week_token(0, 6, 1, lambda n: _fill(n % 100, 2)),
    "gggg": _week_token(0, 6, 1, lambda n: _fill(n, 4)),
    "ggggg": _week_token(0, 6, 1, lambda n: _fill(n, 5)),
    "GG": _week_token(1, 4, 1, lambda n: _fill(n % 100, 2)),
    "GGGG": _week_token(1, 4, 1, lambda n: _fill(n, 4)),
    "GGGGG": _week_token(1, 4, 1, lambda n: _fill(n, 5)),
    "Q": lambda d: str((d.month - 1) // 3 + 1),
    "Qo": lambda d: _ordinal((d.month - 1) // 3 + 1),
    "Y": _year_token,
    "YY": lambda d: _fill(d.year % 100, 2),
    "YYYY": lambda d: _fill(d.year, 4),
    "YYYYY": lambda d: _fill(d.year, 5),
    "YYYYYY": lambda d: _fill(d.year, 6, sign=True),
    "y": lambda d: str(d.year),
    "yo": lambda d: _ordinal(d.year),
    "yy": lambda d: _fill(d.year, 2),
    "yyy": lambda d: _fill(d.year, 3),
    "yyyy": lambda d: _fill(d.year, 4),
    "N": lambda d: "AD",
    "NN": lambda d: "AD",
    "NNN": lambda d: "AD",
    "NNNN": lambda d: "Anno Domini",
    "NNNNN": lambda d: "AD",
    "a": lambda d: "am" if d.hour < 12 else "pm",
    "A": lambda d: "AM" if d.hour < 12 else "PM",
    "H": lambda d: str(d.hour),
    "HH": lambda d: _fill(d.hour, 2),
    "h": lambda d: str(_hour12(d)),
    "hh": lambda d: _fill(_hour12(d), 2),
    "k": lambda d: str(d.hour or 24),
    "kk": lambda d: _fill(d.hour or 24, 2),
    "hmm": lambda d: f"{_hour12(d)}{d.minute:02d}",
    "hmmss": lambda d: f"{_hour12(d)}{d.minute:02d}{d.second:02d}",
    "Hmm": lambda d: f"{d.hour}{d.minute:02d}",
    "Hmmss": lambda d: f"{d.hour}{d.minute:02d}{d.second:02d}",
    "m": lambda d: str(d.minute),
    "mm": lambda d: _fill(d.minute, 2),
    "s": lambda d: str(d.second),
    "ss": lambda d: _fill(d.second, 2),
    **{"S" * n: _fraction(n) for n in range(1, 10)},
    "Z": lambda d: _offset(d, ":"),
    "ZZ": lambda d: _offset(d, ""),
    "z": lambda d: d.tzname() or "",
    "zz": lambda d: d.tzname() or "",
    "X": lambda d: str(int(d.timestamp() // 1)),
    "x": lambda d: str(int(d.timestamp() * 1000 // 1)),
}
