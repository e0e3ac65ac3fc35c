"""qc's API serializers, one module per concern (:mod:`~qc.serializers.io`: imports and exports)."""
