"""Check conditions: `status == 200`, `response_time < 300ms`, `cert_days > 14`.

One condition is one comparison, `SUBJECT OPERATOR VALUE`, read by a small tokenizer and a
recursive-descent parser (never `eval`). A check passes when all its conditions hold;
each one that fails is reported with the value observed.

    subject   name ( '.' name | '[' integer ']' )*     e.g. json.data.items[0].state
              | 'len' '(' subject ')'                     length of a list, text or map
    operator  ==  !=  <  <=  >  >=  contains  !contains  =~  !~  in
    value     number [unit]   1.5  300ms  2s  5m  1h  14d  95%
              | "text" | 'text' | true | false | null | a bare word (up, RUNNING)
              | '[' value (',' value)* ']'                for `in`

Durations are compared in milliseconds (`response_time` is observed in ms), `95%` is 0.95,
`=~` matches a regular expression anywhere in the text (Python's `re.search`).
Every error names the position (1-based character) and what was expected there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from nightwatch.errors import NightwatchError

MAX_LENGTH = 500
UNITS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "=~", "!~")
WORD_OPERATORS = ("contains", "!contains", "in")
ORDERING = {"<", "<=", ">", ">="}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"-?[A-Za-z0-9_][A-Za-z0-9_.\-:/%]*")


class ConditionError(NightwatchError):
    """A condition that does not parse: `path` is the condition, `reason` names the position."""

    def __init__(self, text: str, position: int, reason: str) -> None:
        super().__init__("condition", f"at position {position + 1} of {text!r}: {reason}")
        self.position = position


@dataclass(frozen=True)
class Subject:
    root: str
    path: tuple[str | int, ...] = ()
    length: bool = False

    def __str__(self) -> str:
        text = self.root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"len({text})" if self.length else text

    def observe(self, observed: dict[str, Any]) -> Any:
        """The value this subject names, or `Missing` when the observation has no such value."""
        if self.root not in observed:
            return MISSING
        value = observed[self.root]
        for part in self.path:
            if isinstance(part, int):
                if not isinstance(value, list) or not -len(value) <= part < len(value):
                    return MISSING
                value = value[part]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return MISSING
        if self.length:
            return len(value) if isinstance(value, (list, dict, str)) else MISSING
        return value


class _Missing:
    def __repr__(self) -> str:
        return "nothing"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Literal_:
    value: Any
    text: str
    unit: str | None = None


@dataclass(frozen=True)
class Condition:
    text: str
    subject: Subject
    operator: str
    value: Any  # a number, text, bool, None, or a tuple for `in`
    value_text: str
    duration: bool = False
    pattern: re.Pattern[str] | None = None

    def evaluate(self, observed: dict[str, Any]) -> Outcome:
        seen = self.subject.observe(observed)
        return Outcome(self, seen, _holds(self, seen))

    def show(self, seen: Any) -> str:
        if seen is MISSING:
            return "nothing"
        if self.duration and _is_number(seen):
            return f"{_number_text(seen)}ms"
        if isinstance(seen, str):
            return repr(seen if len(seen) <= 120 else seen[:117] + "...")
        return repr(seen) if not _is_number(seen) else _number_text(seen)


@dataclass(frozen=True)
class Outcome:
    condition: Condition
    observed: Any
    passed: bool

    def describe(self) -> str:
        """`response_time < 300ms (observed 412ms)`: what a failure report says."""
        return f"{self.condition.text} (observed {self.condition.show(self.observed)})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _equal(seen: Any, wanted: Any) -> bool:
    if wanted is None or seen is None:
        return seen is wanted
    if isinstance(seen, bool) or isinstance(wanted, bool):
        if isinstance(seen, bool) and isinstance(wanted, bool):
            return seen is wanted
        text = wanted if isinstance(wanted, str) else seen
        flag = seen if isinstance(seen, bool) else wanted
        return (
            isinstance(text, str) and isinstance(flag, bool) and text.lower() == str(flag).lower()
        )
    if _is_number(seen) and _is_number(wanted):
        return math.isclose(float(seen), float(wanted), rel_tol=1e-9, abs_tol=1e-12)
    if _is_number(seen) and isinstance(wanted, str):
        return _number_text(seen) == wanted
    if isinstance(seen, str) and _is_number(wanted):
        try:
            return math.isclose(float(seen), float(wanted), rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            return False
    return bool(seen == wanted)


def _holds(condition: Condition, seen: Any) -> bool:
    op, wanted = condition.operator, condition.value
    if seen is MISSING:
        return op == "!=" and wanted is not None
    if op == "==":
        return _equal(seen, wanted)
    if op == "!=":
        return not _equal(seen, wanted)
    if op in ORDERING:
        if isinstance(seen, str):
            try:
                seen = float(seen)
            except ValueError:
                return False
        if not _is_number(seen):
            return False
        left, right = float(seen), float(wanted)
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    if op in ("contains", "!contains"):
        if isinstance(seen, str):
            found = str(wanted) in seen
        elif isinstance(seen, list):
            found = any(_equal(item, wanted) for item in seen)
        elif isinstance(seen, dict):
            found = str(wanted) in seen
        else:
            found = False
        return found if op == "contains" else not found
    if op in ("=~", "!~"):
        assert condition.pattern is not None
        found = isinstance(seen, (str, int, float)) and bool(
            condition.pattern.search(seen if isinstance(seen, str) else _number_text(seen))
        )
        return found if op == "=~" else not found
    assert op == "in"
    return any(_equal(seen, item) for item in wanted)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, reason: str, at: int | None = None) -> ConditionError:
        return ConditionError(self.text, self.at if at is None else at, reason)

    def skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t":
            self.at += 1

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.at)

    def expect(self, token: str, what: str) -> None:
        self.skip()
        if not self.peek(token):
            raise self.fail(f"expected {what}")
        self.at += len(token)

    def name(self, what: str) -> str:
        self.skip()
        found = _NAME.match(self.text, self.at)
        if not found:
            raise self.fail(f"expected {what}")
        self.at = found.end()
        return found.group()

    def subject(self) -> Subject:
        self.skip()
        start = self.at
        root = self.name("a subject such as status, response_time, body or json.PATH")
        self.skip()
        if root == "len" and self.peek("("):
            self.at += 1
            inner = self.subject()
            if inner.length:
                raise self.fail("len() of a length is always a number", start)
            self.expect(")", "')' to close len(")
            return Subject(inner.root, inner.path, length=True)
        path: list[str | int] = []
        while True:
            if self.peek("."):
                self.at += 1
                path.append(self.name("a field name after '.'"))
            elif self.peek("["):
                self.at += 1
                self.skip()
                found = re.compile(r"-?\d{1,9}").match(self.text, self.at)
                if not found:
                    raise self.fail("expected a list index (a whole number) after '['")
                self.at = found.end()
                path.append(int(found.group()))
                self.expect("]", "']' to close the index")
            else:
                return Subject(root, tuple(path))

    def operator(self) -> str:
        self.skip()
        for word in WORD_OPERATORS:
            end = self.at + len(word)
            if self.peek(word) and (end >= len(self.text) or not _NAME.match(self.text[end])):
                self.at = end
                return word
        for op in OPERATORS:
            if self.peek(op):
                self.at += len(op)
                return op
        raise self.fail("expected an operator: == != < <= > >= contains !contains =~ !~ in")

    def value(self) -> Literal_:
        self.skip()
        start = self.at
        if self.at >= len(self.text):
            raise self.fail("expected a value")
        quote = self.text[self.at]
        if quote in "\"'":
            end = self.text.find(quote, self.at + 1)
            if end < 0:
                raise self.fail(f"the text opened here has no closing {quote}", start)
            self.at = end + 1
            raw = self.text[start + 1 : end]
            return Literal_(raw, self.text[start : self.at])
        number = _NUMBER.match(self.text, self.at)
        word = _WORD.match(self.text, self.at)
        unit = None
        if number:
            rest = self.text[number.end() :]
            unit = next((u for u in ("ms", "s", "m", "h", "d", "%") if rest.startswith(u)), None)
            end = number.end() + len(unit or "")
            if word and word.end() > end:
                number = None  # 10.0.0.2, 2xx, 1h30m: a word, not a number
        if number:
            self.at = number.end() + len(unit or "")
            amount = float(number.group())
            if not math.isfinite(amount):
                raise self.fail("the number is too large", start)
            if unit == "%":
                amount /= 100
            elif unit:
                amount *= UNITS[unit]
            if amount.is_integer() and "." not in number.group() and unit != "%":
                return Literal_(int(amount), self.text[start : self.at], unit)
            return Literal_(amount, self.text[start : self.at], unit)
        if word:
            self.at = word.end()
            constants = {"true": True, "false": False, "null": None}
            return Literal_(constants.get(word.group(), word.group()), word.group())
        raise self.fail('expected a value: a number, "text", true, false, null or a word')

    def values(self) -> tuple[tuple[Any, ...], str, bool]:
        self.skip()
        start = self.at
        self.expect("[", "'[' to open the list of values after in")
        items = [self.value()]
        while True:
            self.skip()
            if self.peek(","):
                self.at += 1
                items.append(self.value())
            elif self.peek("]"):
                self.at += 1
                break
            else:
                raise self.fail("expected ',' or ']' in the list of values")
        return (
            tuple(item.value for item in items),
            self.text[start : self.at],
            any(item.unit in UNITS for item in items),
        )


def parse(text: str) -> Condition:
    """Parse one condition; `ConditionError` (with the position) for anything else."""
    if not isinstance(text, str):
        raise ConditionError(str(text), 0, "a condition is text")
    if len(text) > MAX_LENGTH:
        raise ConditionError(text[:40] + "...", MAX_LENGTH, f"longer than {MAX_LENGTH} characters")
    if "\n" in text or "\r" in text:
        raise ConditionError(
            text, text.find("\n") if "\n" in text else text.find("\r"), "one condition per line"
        )
    parser = _Parser(text)
    subject = parser.subject()
    operator = parser.operator()
    pattern = None
    if operator == "in":
        value, value_text, duration = parser.values()
    else:
        parser.skip()
        start = parser.at
        literal = parser.value()
        value, value_text, duration = literal.value, literal.text, literal.unit in UNITS
        if operator in ORDERING and not _is_number(value):
            raise parser.fail(f"{operator} compares numbers; {literal.text!r} is not one", start)
        if operator in ("=~", "!~"):
            try:
                pattern = re.compile(str(value))
            except (re.error, RecursionError, OverflowError) as exc:
                raise parser.fail(f"not a regular expression: {exc}", start) from None
    parser.skip()
    if parser.at < len(text):
        raise parser.fail("unexpected text after the condition (one comparison per condition)")
    return Condition(
        text=text.strip(),
        subject=subject,
        operator=operator,
        value=value,
        value_text=value_text,
        duration=duration or subject.root == "response_time",
        pattern=pattern,
    )


def evaluate(conditions: list[Condition], observed: dict[str, Any]) -> list[Outcome]:
    return [condition.evaluate(observed) for condition in conditions]
