"""qc: masks and formats, agreement, consensus, reviews, image labels, imports and exports.

Imports run one way (import-linter contracts in pyproject.toml):

- pure modules, no Django: :mod:`qc.masks` (COCO RLE) → :mod:`qc.agreement` (one
  instance's geometry, matching, pair metrics, aggregates) → :mod:`qc.staple` →
  :mod:`qc.consensus` and :mod:`qc.style` → :mod:`qc.comparison` (one image, every
  annotator); :mod:`qc.formats` (readers and writers), :mod:`qc.rules`, :mod:`qc.text`;
- :mod:`qc.models`, then :mod:`qc.selectors` (every shared read), then :mod:`qc.services`
  (every write, with its audit event and its background task);
- entry points on top: :mod:`qc.api`, the management commands, :mod:`qc.tasks` (the index
  of the background tasks), :mod:`qc.demo`.
"""
