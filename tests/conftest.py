"""Test taxonomy (see README "Tests"):
- tests/unit        pure logic of the shared package, no network;
- tests/template    static checks of template.yaml and the ASL, security properties;
- tests/functional  each handler against emulated AWS (moto server) and the local provider over HTTP;
- tests/provider    the Novita-compatible local provider itself, and the engine's quality;
- tests/localaws    the deploy of a SAM template into moto (and a canary for every moto patch);
- tests/e2e         the whole local stack: real template, real state machine, real engine.
"""

import os

# Powertools reads these when cutout.observability is first imported: give every test the values the
# template sets, and keep X-Ray off (there is no daemon here).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cutout")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Cutout")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
