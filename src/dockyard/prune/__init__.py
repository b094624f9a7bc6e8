"""Retention: `dockyard prune` deletes what no policy keeps, and never a release.

- `classify`: what a tag found on a registry is, from the configured rules (pure);
- `decide`: which tags and digests go, and why (pure);
- `listing`: a repository's complete listing, ages and platform images (reads);
- `deleters`: deletion behind one interface, per registry API;
- `facts`: branches, open pull requests and git tags, from flags, CI and checkout;
- `run`: the command: every image on every registry, dry run unless applied.
"""

from dockyard.prune.classify import Classified, Classifier, Family
from dockyard.prune.decide import Decision, Facts, Image, Listing, Verdict, decide
from dockyard.prune.deleters import Apis, hosted_apis
from dockyard.prune.facts import gather_facts, read_apply
from dockyard.prune.run import PruneResult, RepositoryPrune, prune

__all__ = [
    "Apis", "Classified", "Classifier", "Decision", "Facts", "Family", "Image", "Listing",
    "PruneResult", "RepositoryPrune", "Verdict", "decide", "gather_facts", "hosted_apis", "prune",
    "read_apply",
]
