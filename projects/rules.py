"""Guideline rules (DESIGN §7): the schema of the rules a guideline version carries.

A rule is a dict `{"rule": NAME, "value": V, "severity": "warn" | "block"}`;
:func:`validate_rules` checks a version's rules when it is written. Checking submissions
against them is the masks' business (:mod:`qc.rules`).
"""

from typing import Any

SEVERITIES = ("warn", "block")
RULES: dict[str, type | tuple[type, ...]] = {
    "min_area_px": int,
    "allow_holes": bool,
    "max_overlap": (int, float),  # fraction of the smaller instance's area
    "max_components": int,
    "allowed_classes": list,
    "min_instances": int,
    "max_instances": int,
}
# What each rule is about, for a count in a sentence ("overlap 3 times").
RULE_NAMES = {
    "min_area_px": "minimum area",
    "allow_holes": "holes",
    "max_overlap": "overlap",
    "max_components": "pieces per instance",
    "allowed_classes": "allowed classes",
    "min_instances": "too few instances",
    "max_instances": "too many instances",
}


class RuleError(ValueError):
    pass


def validate_rules(rules: Any) -> list[dict]:
    """Return the rules in canonical form, or raise RuleError saying which rule is wrong."""
    if not isinstance(rules, list):
        raise RuleError("rules must be a list of {rule, value, severity} objects")
    seen: set[str] = set()
    clean = []
    for position, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            raise RuleError(f"rule {position} is not an object")
        name = rule.get("rule")
        if name not in RULES:
            raise RuleError(f"rule {position}: unknown rule {name!r}; known: {', '.join(RULES)}")
        if name in seen:
            raise RuleError(f"rule {position}: {name} appears twice")
        seen.add(name)
        value = rule.get("value")
        expected = RULES[name]
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
            raise RuleError(f"rule {position} ({name}): value {value!r} has the wrong type")
        if name == "allowed_classes" and not all(isinstance(v, str) for v in value):
            raise RuleError(f"rule {position} (allowed_classes): value must list class names")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise RuleError(f"rule {position} ({name}): value must not be negative")
        severity = rule.get("severity", "warn")
        if severity not in SEVERITIES:
            raise RuleError(f"rule {position} ({name}): severity must be warn or block")
        clean.append({"rule": name, "value": value, "severity": severity})
    return clean


SEVERITY_WORDS = {"warn": "warning", "block": "blocks submission"}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def rule_in_words(rule: dict) -> str:
    """One rule (canonical form) as a sentence an annotator reads, without its severity,
    e.g. "Every instance covers at least 20 px"."""
    name, value = rule["rule"], rule["value"]
    if name == "min_area_px":
        return f"Every instance covers at least {value} px"
    if name == "allow_holes":
        return "Instances may have holes" if value else "Instances have no holes"
    if name == "max_overlap":
        return (
            "Instances do not overlap"
            if value == 0
            else f"Two instances overlap by at most {round(value * 100, 1):g} % of the smaller one"
        )
    if name == "max_components":
        if value == 1:
            return "Every instance is one connected piece"
        return f"Every instance has at most {_count(value, 'piece', 'pieces')}"
    if name == "allowed_classes":
        return "Only these classes: " + (", ".join(value) or "none")
    if name == "min_instances":
        return f"At least {_count(value, 'instance', 'instances')} per image"
    if name == "max_instances":
        return f"At most {_count(value, 'instance', 'instances')} per image"
    return f"{name}: {value}"


def rules_in_words(rules: list[dict]) -> list[dict[str, str]]:
    """Each rule as ``{"text", "severity", "severity_words"}``, blocking rules first."""
    ordered = sorted(rules, key=lambda rule: rule["severity"] != "block")
    return [
        {
            "text": rule_in_words(rule),
            "severity": rule["severity"],
            "severity_words": SEVERITY_WORDS[rule["severity"]],
        }
        for rule in ordered
    ]
