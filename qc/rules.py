"""Executable guideline rules (DESIGN §7), checked on every submission.

The rules are a guideline version's, in the form :func:`projects.rules.validate_rules`
gives. Checking is pure: it takes the submission's instances as (label name, RLE) pairs and
returns the violations, each naming the instance by its index in the submission.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from qc import masks


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
