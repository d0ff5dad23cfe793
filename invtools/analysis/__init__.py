"""Looking at results: image and label metrics (:mod:`.metrics`), segmentation of
conductivities into classes and onto pixel grids (:mod:`.segmentation`), and plots
(:mod:`.plotting`)."""
