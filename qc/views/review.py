"""The review viewer and the decisions taken in it (DESIGN §6, §11).

Who may open the viewer is who may review the image (:func:`projects.permissions.
may_review_image`): an outsider gets a 404, a member whose role does not review a 403, as
the API answers them. Each action is one service call; a refusal (``ApplicationError``)
comes back as a message on the viewer, with a 4xx status for input the form refuses.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from projects.errors import ApplicationError
from projects.files import private_field_response
from projects.models import Image, Project
from projects.pages import project_page
from projects.permissions import Action, may_review_image, project_for
from qc.models import ReasonCode, Review, Submission
from qc.selectors import images_visible_to
from qc.selectors.queue import queue_first, queue_place
from qc.selectors.viewer import latest_submissions_of, viewer_image
from qc.selectors.viewer import review_viewer as viewer_data
from qc.services import FlagInput, image_label_set
from qc.services import review_decide as decide

# A flag without a reason of its own takes the decision's first reason, else this one.
DEFAULT_FLAG_REASON = ReasonCode.OTHER


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=Review.Decision.choices)
    reasons = forms.MultipleChoiceField(choices=ReasonCode.choices, required=False)
    comment = forms.CharField(max_length=4000, required=False)
    flag = forms.TypedMultipleChoiceField(coerce=int, required=False)

    def __init__(self, *args: Any, instance_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["flag"].choices = [(pk, pk) for pk in instance_ids]

    def flag_reason(self, pk: int) -> str:
        """The reason chosen beside flagged instance ``pk`` (``flag_reason_<pk>``)."""
        reason = self.data.get(f"flag_reason_{pk}", "")
        if reason and reason not in ReasonCode.values:
            raise forms.ValidationError(f"Unknown reason {reason!r} for instance {pk}.")
        return reason or next(iter(self.cleaned_data["reasons"]), DEFAULT_FLAG_REASON)


class LabelForm(forms.Form):
    source = forms.CharField(max_length=30)

    def clean_source(self) -> str:
        value = self.cleaned_data["source"]
        if value != "consensus" and not (value.isascii() and value.isdigit()):
            raise forms.ValidationError("Choose the consensus or one submission.")
        return value


def _reviewable(request: HttpRequest, slug: str, pk: int) -> tuple[Project, str, Image]:
    """The project, the user's role and the image, when the user may review it: 404 for
    an outsider or an image not in the project, 403 for a member who may not review it."""
    project, role = project_for(user=request.user, slug=slug, action=Action.REVIEW)
    image = viewer_image(project=project, pk=pk)
    if image is None:
        raise Http404("No such image.")
    if not may_review_image(user=request.user, image=image):
        raise PermissionDenied(f"You may not review {image.name}.")
    return project, role, image


def _viewer_page(
    request: HttpRequest, project: Project, role: str, image: Image, *, status: int = 200
) -> HttpResponse:
    viewer = viewer_data(user=request.user, image=image)
    return project_page(
        request,
        "qc/review_viewer.html",
        project=project,
        role=role,
        status=status,
        viewer=viewer,
        # Every row of the table has a select of the same reasons: rendered once.
        reason_options=render_to_string(
            "qc/_viewer_reason_options.html", {"reasons": viewer.reasons}
        ),
    )


@login_required
@require_GET
def review_viewer(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, role, image = _reviewable(request, slug, pk)
    return _viewer_page(request, project, role, image)


@login_required
@require_GET
def image_pixels(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The image's pixels, to the members who may see the image: the API's rule
    (``images_visible_to``), so the pages and the API never disagree on it."""
    project, _ = project_for(user=request.user, slug=slug)
    image = get_object_or_404(images_visible_to(user=request.user, project=project), pk=pk)
    if not image.file:
        raise Http404(f"Image {image.name} has no pixels stored.")
    response = private_field_response(request, image.file, filename=image.name, attachment=False)
    # Moving back and forth in the queue shows the same pixels again: keep them a while,
    # for this user only.
    response["Cache-Control"] = "private, max-age=600"
    return response


def _after_action(request: HttpRequest, project: Project, image: Image) -> HttpResponse:
    """Back to the viewer while the user may still review the image; once they may not
    (their review is done), on to the next image of their queue, or the queue itself."""
    if may_review_image(user=request.user, image=image):
        return redirect("review-viewer", project.slug, image.pk)
    following = queue_place(user=request.user, image=image).next
    if following is None:
        following = queue_first(user=request.user, project=project)
    if following is None:
        return redirect("review-queue", project.slug)
    return redirect("review-viewer", project.slug, following)


def _refused(
    request: HttpRequest, project: Project, role: str, image: Image, error: str, status: int
) -> HttpResponse:
    messages.error(request, error)
    return _viewer_page(request, project, role, image, status=status)


@login_required
@require_POST
def review_decide(request: HttpRequest, slug: str, pk: int, submission: int) -> HttpResponse:
    """Accept or reject one submission of the image, with reasons, a comment and flags on
    its instances (``flag`` = instance ids, ``flag_reason_<id>`` beside each)."""
    project, role, image = _reviewable(request, slug, pk)
    found = latest_submissions_of(image=image).filter(pk=submission).first()
    if found is None:
        if not Submission.objects.filter(task__image=image, pk=submission).exists():
            raise Http404("No such submission of this image.")
        messages.error(request, "That revision was superseded: decide on the newest one.")
        return redirect("review-viewer", project.slug, image.pk)
    instances = {i.pk: i for i in found.instances.all()}
    form = DecideForm(request.POST, instance_ids=list(instances))
    if not form.is_valid():
        return _refused(request, project, role, image, _form_errors(form), 400)
    try:
        flags = [
            FlagInput(instance=instances[pk], reason=form.flag_reason(pk))
            for pk in form.cleaned_data["flag"]
        ]
    except forms.ValidationError as error:
        return _refused(request, project, role, image, " ".join(error.messages), 400)
    data = form.cleaned_data
    try:
        decide(
            submission=found,
            reviewer=request.user,
            decision=data["decision"],
            reasons=data["reasons"],
            comment=data["comment"],
            flags=flags,
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("review-viewer", project.slug, image.pk)
    verb = "Accepted" if data["decision"] == "accept" else "Rejected"
    flagged = f", {len(flags)} instance{'s' if len(flags) != 1 else ''} flagged" if flags else ""
    who = found.task.annotator.username
    messages.success(request, f"{verb} {who}'s revision {found.revision}{flagged}.")
    return _after_action(request, project, image)


@login_required
@require_POST
def review_label(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Set the image's label: ``source`` = "consensus" or the id of an accepted submission."""
    project, role, image = _reviewable(request, slug, pk)
    form = LabelForm(request.POST)
    if not form.is_valid():
        return _refused(request, project, role, image, _form_errors(form), 400)
    source = form.cleaned_data["source"]
    chosen = None
    if source != "consensus":
        chosen = latest_submissions_of(image=image).filter(pk=int(source)).first()
        if chosen is None:
            return _refused(
                request, project, role, image, "That is not a submission of this image.", 400
            )
    try:
        image_label_set(
            image=image, actor=request.user, submission=chosen, from_consensus=chosen is None
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("review-viewer", project.slug, image.pk)
    what = "the consensus" if chosen is None else f"{chosen.task.annotator.username}'s submission"
    messages.success(request, f"The label of {image.name} is {what}.")
    return _after_action(request, project, image)


def _form_errors(form: forms.Form) -> str:
    return " ".join(
        f"{name}: {message}" if name != "__all__" else message
        for name, errors in form.errors.items()
        for message in errors
    )
