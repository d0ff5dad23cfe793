"""The user's workflow: the ``invtools`` command line (:mod:`.cli`), the end-to-end demo
(:mod:`.demo`), scoring a model on a data set (:mod:`.evaluate`) and reconstruction from
measurement files (:mod:`.reconstruct`)."""
