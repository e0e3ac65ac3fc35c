"""The progress throttle between long services and their callbacks (pure)."""

from projects.progress import ProgressThrottle


def test_progress_throttle_forwards_every_two_percent_new_messages_and_the_end():
    heard = []
    report = ProgressThrottle(lambda fraction, message: heard.append((fraction, message)))

    for step in range(101):
        report(step / 1000, "reading")  # 0 % to 10 % in steps of 0.1 %
    report(0.1, "writing")
    report(0.995, "writing")
    report(1.0, "writing")
    report(1.0, "writing")

    # A report once the fraction moved by 2 % (0.06 - 0.04 falls a hair short of 0.02 in
    # floating point, so the third one comes at 0.061), on the new message, and at the end
    assert [(round(f, 3), m) for f, m in heard] == [
        (0.0, "reading"),
        (0.02, "reading"),
        (0.04, "reading"),
        (0.061, "reading"),
        (0.081, "reading"),
        (0.1, "writing"),
        (0.995, "writing"),
        (1.0, "writing"),
    ]


def test_progress_throttle_clamps_the_fraction_and_runs_without_a_callback():
    heard = []
    ProgressThrottle(lambda fraction, message: heard.append(fraction))(1.7, "done")
    ProgressThrottle(None)(0.5, "nobody listens")
    assert heard == [1.0]
