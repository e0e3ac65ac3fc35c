"""Executable guideline rules (DESIGN §7), checked on every submission.

A rule is a dict `{"rule": NAME, "value": V, "severity": "warn" | "block"}`. Checking is pure:
it takes the submission's instances as (label name, RLE) pairs and returns the violations,
each naming the instance by its index in the submission.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from qc import masks

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


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: str
    message: str
    instance: int | None = None  # index in the submission; None for the whole submission

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "instance": self.instance,
        }


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


def check_rules(rules: Sequence[dict], instances: Sequence[tuple[str, dict]]) -> list[Violation]:
    """Violations of `rules` by a submission's instances, given as (label name, RLE) pairs."""
    violations: list[Violation] = []
    crops: dict[int, np.ndarray] = {}

    def crop(index: int) -> np.ndarray:
        if index not in crops:
            crops[index] = masks.rle_to_crop(instances[index][1])[0]
        return crops[index]

    for rule in rules:
        name, value, severity = rule["rule"], rule["value"], rule["severity"]

        def flag(
            message: str, index: int | None = None, name: str = name, severity: str = severity
        ) -> None:
            violations.append(Violation(name, severity, message, index))

        if name == "min_instances" and len(instances) < value:
            flag(f"{len(instances)} instances, fewer than the minimum {value}")
        elif name == "max_instances" and len(instances) > value:
            flag(f"{len(instances)} instances, more than the maximum {value}")
        for index, (label, rle) in enumerate(instances):
            if name == "min_area_px":
                area = masks.rle_area(rle)
                if area < value:
                    flag(f"instance {index + 1} ({label}) has {area} px, under {value} px", index)
            elif name == "allowed_classes" and label not in value:
                flag(f"instance {index + 1} has class {label!r}, not allowed", index)
            elif name == "allow_holes" and not value:
                filled = ndimage.binary_fill_holes(crop(index))
                if int(filled.sum()) != int(crop(index).sum()):
                    flag(f"instance {index + 1} ({label}) has holes", index)
            elif name == "max_components":
                _, count = ndimage.label(crop(index), structure=np.ones((3, 3), bool))
                if count > value:
                    flag(f"instance {index + 1} ({label}) has {count} parts, over {value}", index)
        if name == "max_overlap" and len(instances) > 1:
            violations.extend(_overlap_violations(instances, float(value), severity))
    return violations


def _overlap_violations(
    instances: Sequence[tuple[str, dict]], limit: float, severity: str
) -> list[Violation]:
    rles = [rle for _, rle in instances]
    boxes = np.array([masks.rle_bbox(rle) for rle in rles], dtype=np.int64).reshape(-1, 4)
    areas = [masks.rle_area(rle) for rle in rles]
    found = []
    for i in range(len(rles)):
        x0, y0, w0, h0 = boxes[i]
        for j in range(i + 1, len(rles)):
            x1, y1, w1, h1 = boxes[j]
            if x0 >= x1 + w1 or x1 >= x0 + w0 or y0 >= y1 + h1 or y1 >= y0 + h0:
                continue
            shared = masks.rle_area(masks.rle_intersection([rles[i], rles[j]]))
            fraction = shared / max(1, min(areas[i], areas[j]))
            if fraction > limit:
                found.append(
                    Violation(
                        "max_overlap",
                        severity,
                        f"instances {i + 1} and {j + 1} overlap by {fraction:.0%}, "
                        f"over {limit:.0%}",
                        j,
                    )
                )
    return found
