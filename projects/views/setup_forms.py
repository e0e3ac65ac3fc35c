"""The forms of the setup pages (:mod:`projects.views.setup`): what a lead types, checked
before a service sees it; the services check again as the models do.

Shares (overlap fraction, sample rate) are typed as percentages and stored as fractions; a
percentage left as shown keeps the stored fraction exactly (1/3 is shown as 33.33 %, and
saving the form unchanged must not store 0.3333).
"""

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from projects.models import ConsensusMethod, LabelClass, Project, ReviewPolicy, Role

AGREEMENT_SETTINGS = ("match_iou", "boundary_px", "consensus_method", "quorum")

# What each review policy does to the work, shown beside its choice.
POLICY_WORDS = {
    ReviewPolicy.ALL: "Every image goes to a reviewer once all its annotators have submitted.",
    ReviewPolicy.BELOW_THRESHOLD: "Images whose agreement (pq) reaches the threshold are "
    "accepted by the system, with the consensus (or the best-agreeing submission) as their "
    "label; the rest go to review.",
    ReviewPolicy.SAMPLE: "As below threshold, and a random share of the images that reached "
    "it goes to review as well, to check the threshold.",
}
CONSENSUS_WORDS = {
    ConsensusMethod.MAJORITY: "A pixel is in when more than half of the matching instances "
    "have it (ties split midway between the edges).",
    ConsensusMethod.STAPLE: "Weighs each annotator by how well they agree with the others "
    "(EM); slower, better when one annotator is much worse.",
}

# (value, label, what it does) of each choice, for the settings page.
POLICIES = [(value, label, POLICY_WORDS[value]) for value, label in ReviewPolicy.choices]
CONSENSUS_METHODS = [
    (value, label, CONSENSUS_WORDS[value]) for value, label in ConsensusMethod.choices
]


def _fraction_check(value: float, name: str) -> None:
    if not 0 < value <= 1:
        raise forms.ValidationError(f"{name} is a fraction above 0 and at most 1.")


class SettingsForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Shown in the navigation and lists.")
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the team annotates; shown on the overview.",
    )
    overlap = forms.IntegerField(
        min_value=1,
        max_value=50,
        label="Annotators per overlapped image",
        help_text="How many annotators each overlapped image gets when you assign work.",
    )
    overlap_percent = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Overlapped images (%)",
        help_text="The share of each assigned batch that gets that many annotators; the rest "
        "get one. Only overlapped images have agreement figures.",
    )
    match_iou = forms.FloatField(
        label="Match IoU",
        help_text="Two instances of the same class count as the same object when their masks "
        "overlap at least this much (intersection over union). A class may override it.",
    )
    boundary_px = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1000,
        label="Boundary band (px)",
        widget=forms.NumberInput(attrs={"placeholder": "2 % of the diagonal"}),
        help_text="The width of the band around each edge that boundary IoU compares. Empty: "
        "2 % of the image diagonal.",
    )
    review_policy = forms.ChoiceField(choices=ReviewPolicy.choices, widget=forms.RadioSelect)
    auto_accept_pq = forms.FloatField(
        min_value=0,
        max_value=1,
        label="Auto-accept at pq",
        help_text="An image whose panoptic quality between annotators reaches this is accepted "
        "without review.",
    )
    sample_percent = forms.FloatField(
        min_value=0,
        max_value=100,
        label="Sampled for review (%)",
        help_text="The share of auto-accepted images sent to review anyway.",
    )
    consensus_method = forms.ChoiceField(choices=ConsensusMethod.choices, widget=forms.RadioSelect)
    quorum = forms.FloatField(
        help_text="The share of an image's annotators who must have drawn an object for it to "
        "be in the consensus (0.5: half of them).",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, initial=self.initial_of(project), **kwargs)
        self.project = project

    @staticmethod
    def initial_of(project: Project) -> dict[str, Any]:
        return {
            "name": project.name,
            "description": project.description,
            "overlap": project.overlap,
            "overlap_percent": _percent(project.overlap_fraction),
            "match_iou": project.match_iou,
            "boundary_px": project.boundary_px,
            "review_policy": project.review_policy,
            "auto_accept_pq": project.auto_accept_pq,
            "sample_percent": _percent(project.sample_rate),
            "consensus_method": project.consensus_method,
            "quorum": project.quorum,
        }

    def clean_match_iou(self) -> float:
        value = self.cleaned_data["match_iou"]
        _fraction_check(value, "Match IoU")
        return value

    def clean_quorum(self) -> float:
        value = self.cleaned_data["quorum"]
        _fraction_check(value, "The quorum")
        return value

    def settings(self) -> dict[str, Any]:
        """The cleaned values as the project's settings (``project_update``'s keywords)."""
        data = dict(self.cleaned_data)
        data["overlap_fraction"] = self._share(
            data.pop("overlap_percent"), self.project.overlap_fraction
        )
        data["sample_rate"] = self._share(data.pop("sample_percent"), self.project.sample_rate)
        return data

    @staticmethod
    def _share(percent: float, stored: float) -> float:
        return stored if percent == _percent(stored) else percent / 100

    def field_of(self, setting: str) -> str:
        """The form field a project setting is typed in (for the service's field errors)."""
        return {"overlap_fraction": "overlap_percent", "sample_rate": "sample_percent"}.get(
            setting, setting
        )


def _percent(fraction: float) -> float:
    return round(fraction * 100, 2)


_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is written #rrggbb.")


class LabelClassForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="As annotation files name the class.")
    colour = forms.CharField(
        max_length=7,
        validators=[_COLOUR],
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text="Its instances' colour in the viewer and thumbnails.",
    )
    match_iou = forms.FloatField(
        required=False,
        label="Match IoU",
        help_text="Empty: the project's. Small or thin objects may need a lower one. Images "
        "compared already keep their figures: agreement is not recomputed.",
    )

    def __init__(self, *args: Any, label_class: LabelClass | None = None, **kwargs: Any) -> None:
        if label_class is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": label_class.name,
                    "colour": label_class.colour,
                    "match_iou": label_class.match_iou,
                },
            )
        super().__init__(*args, **kwargs)
        self.label_class = label_class

    def clean_match_iou(self) -> float | None:
        value = self.cleaned_data["match_iou"]
        if value is not None:
            _fraction_check(value, "Match IoU")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the class being edited (every field for a new one)."""
        if self.label_class is None:
            return dict(self.cleaned_data)
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if getattr(self.label_class, name) != value
        }


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class ProjectCreateForm(forms.Form):
    slug = forms.SlugField(
        max_length=100,
        help_text="Names the project in its URLs and commands for good: letters, digits, - and _.",
    )
    name = forms.CharField(max_length=200, required=False, help_text="Empty: the slug.")
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="What it annotates."
    )
    labels = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Label classes",
        help_text="One per line; more can be added later.",
    )

    def clean_labels(self) -> list[str]:
        names: list[str] = []
        for line in self.cleaned_data["labels"].splitlines():
            name = line.strip()
            if len(name) > 100:
                raise forms.ValidationError(f"{name[:20]}…: a class name has at most 100 letters.")
            if name and name not in names:
                names.append(name)
        return names
