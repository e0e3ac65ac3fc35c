"""The forms of the guideline editor: a draft's text, its change summary and its rules as
one row per rule kind of DESIGN §7 (enabled, its parameter, warn or block), turned into
the rule list :mod:`projects.rules` defines; and the filters of the history and the
acknowledgement pages (a value that does not parse is left out, never an error page)."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms

from projects.markdown import render_markdown
from projects.rules import RULE_NAMES, RULES, SEVERITY_WORDS, rules_in_words

BODY_MAX_CHARS = 200_000
BIG = 10**9
DB_ID = {"min_value": 1, "max_value": 2**63 - 1}
SEVERITY_CHOICES = [(key, words) for key, words in SEVERITY_WORDS.items()]
_ROW_FIELDS = ("on_", "value_", "severity_")
HOLES_CHOICES = [("no", "Instances have no holes"), ("yes", "Instances may have holes")]


@dataclass(frozen=True)
class RuleSpec:
    """How one rule kind reads in the form: the words before and after its parameter."""

    rule: str
    before: str
    after: str
    what: str  # the parameter, for a missing value ("the minimum area")


RULE_SPECS = (
    RuleSpec("min_area_px", "Every instance covers at least", "px", "the minimum area in px"),
    RuleSpec("allow_holes", "", "", "whether instances may have holes"),
    RuleSpec(
        "max_overlap",
        "Two instances overlap by at most",
        "% of the smaller one",
        "the largest overlap in %",
    ),
    RuleSpec("max_components", "Every instance has at most", "pieces", "the most pieces"),
    RuleSpec("allowed_classes", "Only these classes:", "", "at least one class"),
    RuleSpec("min_instances", "At least", "instances per image", "the fewest instances"),
    RuleSpec("max_instances", "At most", "instances per image", "the most instances"),
)
assert [spec.rule for spec in RULE_SPECS] == list(RULES), "one row per rule kind"


def _number(attrs: dict[str, str], **limits: Any) -> forms.IntegerField:
    return forms.IntegerField(
        required=False, widget=forms.NumberInput(attrs={"class": "num", **attrs}), **limits
    )


def _value_field(rule: str, class_names: list[str]) -> forms.Field:
    if rule == "allow_holes":
        return forms.ChoiceField(required=False, choices=HOLES_CHOICES)
    if rule == "max_overlap":
        return forms.DecimalField(
            required=False,
            min_value=0,
            max_value=100,
            max_digits=7,
            decimal_places=3,
            widget=forms.NumberInput(attrs={"class": "num", "step": "0.1", "placeholder": "5"}),
        )
    if rule == "allowed_classes":
        return forms.MultipleChoiceField(
            required=False,
            choices=[(name, name) for name in class_names],
            widget=forms.CheckboxSelectMultiple,
        )
    if rule == "max_components":
        return _number({"placeholder": "1"}, min_value=1, max_value=BIG)
    placeholder = {"min_area_px": "20", "min_instances": "1", "max_instances": "100"}[rule]
    return _number({"placeholder": placeholder}, min_value=0, max_value=BIG)


def _shown(rule: dict) -> Any:
    """A stored rule's value as the form shows it."""
    value = rule["value"]
    if rule["rule"] == "allow_holes":
        return "yes" if value else "no"
    if rule["rule"] == "max_overlap":
        return f"{round(value * 100, 3):g}"
    return value


def _stored(rule: str, value: Any) -> Any:
    """A cleaned form value as the rule stores it."""
    if rule == "allow_holes":
        return value == "yes"
    if rule == "max_overlap":
        return float(Decimal(value) / 100)
    if rule == "allowed_classes":
        return list(value)
    return value


class RulesForm(forms.Form):
    """One row per rule kind: ``on_<rule>`` (checked on submissions), ``value_<rule>`` and
    ``severity_<rule>`` (warn or block). A rule that is on needs its value; the value of a
    rule that is off is kept in the form but not stored."""

    def __init__(self, *args: Any, class_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in RULE_SPECS:
            name = RULE_NAMES[spec.rule]
            self.fields[f"on_{spec.rule}"] = forms.BooleanField(
                required=False, label=f"Check {name}"
            )
            value = _value_field(spec.rule, class_names)
            value.label = name.capitalize()
            self.fields[f"value_{spec.rule}"] = value
            self.fields[f"severity_{spec.rule}"] = forms.ChoiceField(
                required=False, choices=SEVERITY_CHOICES, widget=forms.RadioSelect
            )

    @staticmethod
    def initial_of(rules: list[dict]) -> dict[str, Any]:
        """The form's initial values for stored ``rules``: every rule off and a warning,
        except those given."""
        initial: dict[str, Any] = {f"severity_{rule}": "warn" for rule in RULES}
        for rule in rules:
            initial[f"on_{rule['rule']}"] = True
            initial[f"value_{rule['rule']}"] = _shown(rule)
            initial[f"severity_{rule['rule']}"] = rule["severity"]
        return initial

    @staticmethod
    def class_names_of(rules: list[dict]) -> list[str]:
        """The class names ``rules`` allow (so a renamed class stays a choice)."""
        return [
            name for rule in rules if rule["rule"] == "allowed_classes" for name in rule["value"]
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for spec in RULE_SPECS:
            if not data.get(f"on_{spec.rule}") or f"value_{spec.rule}" in self.errors:
                continue
            if data.get(f"value_{spec.rule}") in (None, "", []):
                self.add_error(
                    f"value_{spec.rule}", f"Give {spec.what}, or untick the rule to drop it."
                )
        low, high = data.get("value_min_instances"), data.get("value_max_instances")
        both = data.get("on_min_instances") and data.get("on_max_instances")
        if both and low is not None and high is not None and low > high:
            self.add_error("value_max_instances", f"At most {high} is fewer than at least {low}.")
        return data

    def rules_valid(self) -> bool:
        """The rule rows parsed (whatever the other fields of the form say)."""
        self.is_valid()
        return not any(name.startswith(_ROW_FIELDS) for name in self.errors)

    def rules(self) -> list[dict]:
        """The rules that are on, in canonical form and in the order of the rule kinds."""
        data = self.cleaned_data
        return [
            {
                "rule": spec.rule,
                "value": _stored(spec.rule, data[f"value_{spec.rule}"]),
                "severity": data.get(f"severity_{spec.rule}") or "warn",
            }
            for spec in RULE_SPECS
            if data.get(f"on_{spec.rule}")
        ]

    def rows(self) -> list[dict[str, Any]]:
        """The rule rows for the template, each with its bound fields and words."""
        return [
            {
                "spec": spec,
                "name": RULE_NAMES[spec.rule].capitalize(),
                "on": self[f"on_{spec.rule}"],
                "value": self[f"value_{spec.rule}"],
                "severity": self[f"severity_{spec.rule}"],
            }
            for spec in RULE_SPECS
        ]


class DraftForm(RulesForm):
    """A draft as the editor shows it: the markdown text, the change summary (required
    only to publish) and the rules."""

    body = forms.CharField(
        max_length=BODY_MAX_CHARS,
        widget=forms.Textarea,
        error_messages={"required": "Write the guideline's text: annotators read it first."},
    )
    change_summary = forms.CharField(max_length=500, required=False)

    field_order = ["body", "change_summary"]

    @classmethod
    def initial_of_version(cls, version: Any) -> dict[str, Any]:
        return {
            "body": version.body,
            "change_summary": version.change_summary,
            **cls.initial_of(version.rules),
        }

    def preview(self) -> dict[str, Any]:
        """What the preview shows of the form as it stands: the text rendered (None when
        empty or too long) and the rules in words (None while a rule row has an error)."""
        self.is_valid()
        body = self.cleaned_data.get("body")
        return {
            "html": render_markdown(body) if body else None,
            "body_error": self.errors.get("body"),
            "rules": rules_in_words(self.rules()) if self.rules_valid() else None,
        }


def saved_preview(version: Any) -> dict[str, Any]:
    """The preview of a version as stored (its rendered text and rules)."""
    return {
        "html": version.body_html or None,
        "body_error": None,
        "rules": rules_in_words(version.rules),
    }


class PublishForm(forms.Form):
    """Publishing as saved: only the change summary."""

    change_summary = forms.CharField(max_length=500, required=False)


class GuidelineChoiceForm(forms.Form):
    guideline = forms.IntegerField(**DB_ID)


class NewGuidelineForm(forms.Form):
    title = forms.CharField(max_length=200, label="Title of the new guideline")

    def __init__(self, *args: Any, titles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.titles = {title.casefold() for title in titles}

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if title.casefold() in self.titles:
            raise forms.ValidationError(
                f"This project has a guideline {title!r} already: start a new version of it."
            )
        return title


class HistoryForm(forms.Form):
    g = forms.IntegerField(required=False, **DB_ID)
    a = forms.IntegerField(required=False, **DB_ID)
    b = forms.IntegerField(required=False, **DB_ID)

    def choice(self) -> dict[str, int | None]:
        """The guideline and versions asked for; a value that did not parse is None."""
        self.is_valid()
        return {key: self.cleaned_data.get(key) for key in ("g", "a", "b")}


class AckFilterForm(forms.Form):
    version = forms.IntegerField(required=False, **DB_ID)
    state = forms.ChoiceField(
        required=False, choices=[("acknowledged", "acknowledged"), ("pending", "not yet")]
    )
    blocked = forms.ChoiceField(required=False, choices=[("1", "blocked")])
