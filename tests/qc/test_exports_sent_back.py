"""Exports and sent-back images (DESIGN §6, §8): a label sent back for rework stays in
force until a new one is accepted, so exports hold it while the overview no longer counts
the image as accepted; the export counts such images so that the two figures can be told
apart."""

import json

from projects.models import Image
from qc.services import image_label_send_back
from qc.services.exports import export_write
from tests.qc.test_exports import accepted_images


def test_a_sent_back_image_keeps_its_label_in_the_export_and_is_counted(
    project, bubble, annotator, lead, tmp_path
):
    """DESIGN §6: a sent-back label stays in force until a new one is accepted, so the
    export holds it (one image more than the overview's accepted count) and says how many
    such images it holds."""
    accepted_images(project, bubble, annotator, lead, 3)
    image_label_send_back(image=Image.objects.get(name="001.png"), actor=lead, reasons=["other"])
    out = tmp_path / "export.json"

    summary = export_write(project=project, format="coco", out_path=out)

    document = json.loads(out.read_text())
    assert [i["file_name"] for i in document["images"]] == ["000.png", "001.png", "002.png"]
    assert {a["maskqc"]["label"] for a in document["annotations"]} == {"accepted"}
    assert (summary.images, summary.sent_back, summary.counts()["sent_back"]) == (3, 1, 1)
    assert "(accepted labels, 1 image sent back for rework, its label still in force)" in (
        summary.line()
    )
    only_others = export_write(
        project=project,
        format="coco",
        out_path=tmp_path / "others.json",
        filters={"images": ["000.png", "002.png"]},
    )
    assert (only_others.images, only_others.sent_back) == (2, 0)
    assert "sent back" not in only_others.line()
