"""`python -m deploy.rollout deploy|rollback`: ship a build to a running Triton without downtime.

`settings.py` (`RolloutSettings`), `versions.py` (the model's version folders and their builds),
`checks.py` (a version answers known and unknown users), `namespaces.py` (garbage collection of
old builds' online state), `rollout.py` (the steps of deploy and rollback), `cli.py`.
"""
