import json

from django.core.management.base import CommandParser

from projects.management.base import ServiceCommand
from projects.management.lookup import project_or_error
from qc.selectors import report_as_interface
from qc.services.agreement import agreement_recompute_project


class Command(ServiceCommand):
    help = "Recompute the agreement of every image of a project and print the report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--json", action="store_true", help="Print the report as one JSON object."
        )

    def handle(self, *args, slug: str, **options) -> None:
        project = project_or_error(slug)
        report = report_as_interface(agreement_recompute_project(project=project).report)
        if options["json"]:
            self.stdout.write(_dumps(report))
            return
        summary = report["summary"]
        if summary["pq"] is None:
            self.stdout.write(f"{slug}: no image has two submissions yet.")
            return
        lo, hi = summary["pq_ci95"]
        self.stdout.write(
            f"{slug}: {report['images']} images, {len(report['pairs'])} pairs, "
            f"pq {summary['pq']:.3f} (95 % CI {lo:.3f}–{hi:.3f}), "
            f"mean IoU {_fmt(summary['mean_iou'])}, boundary IoU {_fmt(summary['boundary_iou'])}."
        )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _dumps(report: dict) -> str:
    return json.dumps(report, sort_keys=False, allow_nan=False)
