"""Code that runs inside Triton's python backend (the executor model), and the graph export.

Imported by the export at build time and by the executor at serve time: nothing here may import
offline-only code (`training`).
"""
