"""The daemon: wiring of intake, spool, pipeline, printers, API and clock."""
