"""``cutout``: Cutout for people — push images and watch their outcomes, ask where an upload is, retry,
backfill, redrive — against the local stack (``make up``) or a deployed one (``--stack NAME``)."""
