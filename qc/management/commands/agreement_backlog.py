from django.core.management.base import CommandError, CommandParser

from projects.management.base import ServiceCommand
from projects.management.lookup import project_or_error
from projects.models import Project
from qc.services.agreement_backlog import agreement_backlog_round

# Image ids printed before the rest are only counted.
SHOWN = 50


class Command(ServiceCommand):
    help = (
        "Queue agreement for the images whose stored agreement is missing or older than "
        "their newest submission (one round of what jobs_watch does every round)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", metavar="SLUG", help="Only this project's images.")
        parser.add_argument(
            "--limit", type=int, metavar="N", help="Queue at most N images this round."
        )

    def handle(self, *args, project: str | None, limit: int | None, **options) -> None:
        if limit is not None and limit < 1:
            raise CommandError(f"--limit must be 1 or more, not {limit}.")
        scope = None if project is None else project_or_error(project)
        done = agreement_backlog_round(project=scope, limit=limit)
        where = "" if scope is None else f" of {scope.slug}"
        if done.waiting:
            self.stdout.write(
                "Agreement work is still waiting in the task queue; nothing queued "
                "(run this again once the workers have drained it)."
            )
        elif done.failed:
            raise CommandError(
                "The task queue could not be reached; nothing queued (the log says why)."
            )
        elif done.reports:
            slugs = dict(Project.objects.filter(pk__in=done.reports).values_list("pk", "slug"))
            names = ", ".join(slugs[pk] for pk in done.reports)
            noun = "project" if len(done.reports) == 1 else "projects"
            self.stdout.write(
                f"No image{where} needs its agreement computed; queued the agreement "
                f"report of {len(done.reports)} {noun}: {names}"
            )
        elif not done.queued:
            self.stdout.write(f"No image{where} needs its agreement computed.")
        else:
            reasons = ", ".join(f"{n} {reason}" for reason, n in done.reasons.items())
            ids = " ".join(str(i) for i in done.queued[:SHOWN])
            if len(done.queued) > SHOWN:
                ids += f" and {len(done.queued) - SHOWN} more"
            noun = "image" if len(done.queued) == 1 else "images"
            self.stdout.write(
                f"Queued agreement for {len(done.queued)} {noun}{where} ({reasons}): {ids}"
            )
