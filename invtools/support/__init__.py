"""What keeps files and inputs safe and runs traceable: atomic writes (:mod:`.atomic`), output
paths that never destroy an input (:mod:`.output_paths`), checks of user-given numbers
(:mod:`.validation`), provenance (:mod:`.provenance`), device names (:mod:`.devices`) and
deprecated names (:mod:`.deprecation`)."""
