"""Tag rules against docker/metadata-action's behaviour.

Most table rows repeat a case of metadata-action's own __tests__/meta.test.ts (the row
id names it, e.g. "tag17"); their contexts mirror its event fixtures: the same refs,
shas, default branch `master`, and its mocked clock 2020-01-10T00:30:00Z, which is
also the commit date.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.context import Context
from dockyard.errors import InputError
from dockyard.tagging import (
    DEFAULT_PRIORITIES,
    AmbiguousTagError,
    Flavor,
    RuleSyntaxError,
    TagRule,
    compute_tags,
    default_rules,
    format_moment,
    parse_flavor,
    parse_rules,
    sanitize_tag,
)

NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
SHA_DEV = "860c1904a1ce19322e91ac35af1ab07466440c37"
SHA_MASTER = "266574110acf203503badf966df2ea24b5d732d7"
SHA_PR = "a9c8c5828b91be19d9728548b24759e352367ef1"
SHA_INVALID = "983315b5e8d46e46fc4c49869e85e7ee5fb289ba"


def ctx(ref: str, event: str = "push", sha: str = SHA_DEV, **fields: Any) -> Context:
    values: dict[str, Any] = {
        "provider": "github",
        "event": event,
        "ref": ref,
        "sha": sha,
        "now": NOW,
        "default_branch": "master",
        "commit_date": NOW,
        "repository": "octocat/Hello-World",
        "repo_url": "https://github.com/octocat/Hello-World",
        "run_id": "987654",
        "run_number": "42",
    }
    values.update(fields)
    return Context(**values)


def tag(name: str, **fields: Any) -> Context:
    return ctx(f"refs/tags/{name}", **fields)


PUSH_DEV = ctx("refs/heads/dev")
PUSH_MASTER = ctx("refs/heads/master", sha=SHA_MASTER)
PUSH_INVALID = ctx("refs/heads/#fix/invalid-branch", sha=SHA_INVALID)
DISPATCH_MASTER = ctx("refs/heads/master", event="workflow_dispatch")
DISPATCH_DEV = ctx("refs/heads/dev", event="workflow_dispatch")
PR = ctx("refs/pull/15/merge", event="pull_request", sha=SHA_PR, branch="feature",
         pr_number=15, base_ref="master")
PR_TARGET = ctx("refs/pull/15/merge", event="pull_request_target", sha=SHA_MASTER,
                pr_number=15, base_ref="master")
SCHEDULE = ctx("refs/heads/master", event="schedule")
RELEASE = tag("v1.1.1", event="release")
V111 = tag("v1.1.1", base_ref="refs/heads/master")
BETA = tag("v2.0.8-beta.67")
RC = tag("20200110-RC2")
P1 = tag("p1/v1.0.0")

RAWS = ["type=raw,my", "type=raw,custom", "type=raw,tags"]
# docs/tagging.md's replacement for Drone's `auto_tag: true`
DRONE = ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
         "type=semver,pattern={{major}}", "type=raw,value=latest,enable={{is_default_branch}}"]
LATEST_FALSE = ["latest=false"]

# (context, rules or None for the defaults, flavor lines, version, tags)
CASES = [
    # push: branch events
    pytest.param(PUSH_DEV, None, None, "dev", ["dev"], id="push01"),
    pytest.param(PUSH_MASTER, ["type=edge"], None, "edge", ["edge"], id="push02"),
    pytest.param(PUSH_MASTER, None, None, "master", ["master"], id="push03"),
    pytest.param(DISPATCH_MASTER, ["type=edge"], None, "edge", ["edge"], id="push04"),
    pytest.param(PUSH_DEV, ["type=ref,event=branch", "type=sha"], None, "dev",
                 ["dev", "sha-860c190"], id="push07"),
    pytest.param(PUSH_MASTER, ["type=edge", "type=sha"], None, "edge",
                 ["edge", "sha-2665741"], id="push08"),
    pytest.param(PUSH_DEV, ["type=edge,branch=dev", "type=sha"], None, "edge",
                 ["edge", "sha-860c190"], id="push09"),
    pytest.param(PUSH_MASTER, ["type=edge,branch=dev", "type=sha"], None, "sha-2665741",
                 ["sha-2665741"], id="push10"),
    pytest.param(PUSH_INVALID, ["type=edge", "type=sha"], None, "sha-983315b",
                 ["sha-983315b"], id="push11"),
    pytest.param(PUSH_INVALID, ["type=semver,pattern={{version}}",
                                "type=pep440,pattern={{version}}", "type=edge"],
                 None, None, [], id="push12"),
    pytest.param(PUSH_MASTER, ["type=ref,priority=2000,event=branch", "type=edge"], None,
                 "master", ["master", "edge"], id="push13"),
    pytest.param(PUSH_MASTER, ["type=semver,pattern={{version}},value=v1.2.3",
                               "type=pep440,pattern={{version}},value=v1.2.3", "type=edge"],
                 None, "1.2.3", ["1.2.3", "edge", "latest"], id="push14"),
    pytest.param(PUSH_MASTER, ["type=match,pattern=v(.*),group=1,value=v1.2.3", "type=edge"],
                 None, "1.2.3", ["1.2.3", "edge", "latest"], id="push15"),
    pytest.param(PUSH_MASTER, ["type=match,enable=false,pattern=v(.*),group=1,value=v1.2.3",
                               "type=edge"], None, "edge", ["edge"], id="push16"),
    pytest.param(PUSH_MASTER, [
        "type=raw,value=mytag-{{branch}}",
        "type=raw,value=mytag-{{date 'YYYYMMDD'}}",
        "type=raw,value=mytag-cd-{{commit_date 'YYYYMMDD'}}",
        "type=raw,value=mytag-{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}",
        "type=raw,value=mytag-tag-{{tag}}",
        "type=raw,value=mytag-baseref-{{base_ref}}",
        "type=raw,value=mytag-defbranch,enable={{is_default_branch}}",
    ], None, "mytag-master", ["mytag-master", "mytag-20200110", "mytag-cd-20200110",
                              "mytag-20200110-093000", "mytag-tag-", "mytag-baseref-",
                              "mytag-defbranch"], id="push17"),
    pytest.param(PUSH_DEV, ["type=ref,event=branch", "type=sha,format=long"], None, "dev",
                 ["dev", f"sha-{SHA_DEV}"], id="push18"),
    pytest.param(PUSH_DEV, ["type=edge,branch=master", "type=ref,event=branch,enable=false",
                            "type=sha,format=long",
                            "type=raw,value=defbranch,enable={{is_default_branch}}"],
                 None, f"sha-{SHA_DEV}", [f"sha-{SHA_DEV}"], id="push19"),
    pytest.param(ctx("refs/heads/my/branch"), None, None, "my-branch", ["my-branch"],
                 id="branch-with-slash"),
    pytest.param(ctx("refs/heads/feature/#42 fix"), ["type=ref,event=branch"], None,
                 "feature-42-fix", ["feature-42-fix"], id="branch-invalid-chars"),
    pytest.param(ctx("refs/heads/.hidden"), ["type=ref,event=branch"], None, "hidden",
                 ["hidden"], id="branch-leading-dot"),
    pytest.param(ctx("refs/heads/master", default_branch=None), ["type=edge"], None, None, [],
                 id="edge-default-branch-unknown"),
    pytest.param(ctx("refs/heads/master", default_branch=None), ["type=edge,branch=master"],
                 None, "edge", ["edge"], id="edge-named-branch"),
    pytest.param(DISPATCH_DEV, None, None, "dev", ["dev"], id="dispatch-default-rules"),
    pytest.param(DISPATCH_DEV, ["type=sha,prefix={{branch}}-"], None, "dev-860c190",
                 ["dev-860c190"], id="sha-prefix-expression"),
    pytest.param(PUSH_DEV, ["type=raw,feature,enable={{is_not_default_branch}}"], None,
                 "feature", ["feature"], id="is-not-default-branch-on-dev"),
    pytest.param(PUSH_MASTER, ["type=raw,feature,enable={{is_not_default_branch}}",
                               "type=ref,event=branch"], None, "master", ["master"],
                 id="is-not-default-branch-on-master"),
    pytest.param(PUSH_MASTER, ["type=raw,value=default-{{is_default_branch}}"], None,
                 "default-true", ["default-true"], id="is-default-branch-as-value"),
    pytest.param(ctx("refs/heads/a&b"), ["type=raw,value={{branch}}",
                                         "type=raw,value={{{branch}}}"],
                 None, "a-amp-b", ["a-amp-b", "a-b"], id="handlebars-escaping"),
    pytest.param(ctx("refs/heads/a&b"), ["type=ref,event=branch"], None, "a-b", ["a-b"],
                 id="ref-branch-not-escaped"),
    pytest.param(ctx("", sha=SHA_DEV), ["type=ref,event=branch", "type=sha"], None,
                 "sha-860c190", ["sha-860c190"], id="detached-head"),
    pytest.param(ctx("", sha=SHA_DEV), None, None, None, [], id="detached-head-defaults"),
    pytest.param(ctx("refs/heads/dev", sha=""), ["type=sha", "type=ref,event=branch"], None,
                 "dev", ["dev"], id="sha-unknown"),
    # tag events
    pytest.param(tag("release1"), None, None, "release1", ["release1", "latest"], id="tag01"),
    pytest.param(RC, None, None, "20200110-RC2", ["20200110-RC2", "latest"], id="tag02"),
    pytest.param(RC, ["type=match,pattern=\\d{8}"], LATEST_FALSE, "20200110", ["20200110"],
                 id="tag03"),
    pytest.param(RC, ["type=match,pattern=(.*)-RC,group=1"], LATEST_FALSE, "20200110",
                 ["20200110"], id="tag04"),
    pytest.param(V111, ['type=match,"pattern=\\d.\\d.\\d"'], None, "1.1.1",
                 ["1.1.1", "latest"], id="tag05"),
    pytest.param(V111, ['type=match,"pattern=^v(\\d.\\d.\\d)$",group=1'], None, "1.1.1",
                 ["1.1.1", "latest"], id="tag06"),
    pytest.param(BETA, ['type=match,"pattern=\\d.\\d.\\d-(alpha|beta).\\d+"'], None,
                 "2.0.8-beta.67", ["2.0.8-beta.67", "latest"], id="tag07"),
    pytest.param(BETA, ['type=match,"pattern=\\d.\\d"'], None, "2.0", ["2.0", "latest"],
                 id="tag08"),
    pytest.param(BETA, ['type=match,"pattern=v(.*)-beta.(.*)",group=1',
                        'type=match,"pattern=v(.*)-beta.(.*)",group=2'], None, "2.0.8",
                 ["2.0.8", "67", "latest"], id="tag09"),
    pytest.param(tag("sometag"), ['type=match,"pattern=\\d.\\d"'], None, None, [],
                 id="tag10"),
    pytest.param(V111, ["type=semver,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}",
                        "type=semver,pattern={{major}}"], None, "1.1.1",
                 ["1.1.1", "1.1", "1", "latest"], id="tag11"),
    pytest.param(V111, ["type=semver,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}.{{patch}}"], None, "1.1.1",
                 ["1.1.1", "latest"], id="tag12"),
    pytest.param(BETA, ["type=semver,pattern={{major}}.{{minor}}",
                        "type=semver,pattern={{major}}"], None, "2.0.8-beta.67",
                 ["2.0.8-beta.67"], id="tag13"),
    pytest.param(tag("sometag"), ["type=ref,event=tag", "type=semver,pattern={{version}}",
                                  "type=semver,pattern={{major}}.{{minor}}",
                                  "type=semver,pattern={{major}}"],
                 LATEST_FALSE, "sometag", ["sometag"], id="tag14"),
    pytest.param(BETA, ["type=raw,priority=2000,foo", "type=semver,pattern={{version}}",
                        'type=match,"pattern=\\d.\\d"'], None, "foo",
                 ["foo", "2.0.8-beta.67", "2.0"], id="tag15"),
    pytest.param(V111, ["type=raw,priority=2000,foo", "type=ref,event=tag", "type=edge"],
                 None, "foo", ["foo", "v1.1.1"], id="tag16"),
    pytest.param(P1, ['type=match,"pattern=/^v(\\d.\\d.\\d)$/ig",group=1',
                      "type=match,pattern=\\d.\\d.\\d", "type=match,pattern=\\d.\\d",
                      "type=ref,event=pr", "type=sha"], None, "1.0.0",
                 ["1.0.0", "1.0", "sha-860c190", "latest"], id="tag17"),
    pytest.param(P1, ["type=match,pattern=p1/v(\\d.\\d.\\d),group=1",
                      "type=match,pattern=p1/v(\\d.\\d),group=1",
                      "type=match,pattern=p1/v(\\d.\\d),group=3",
                      "type=ref,event=pr", "type=sha"], None, "1.0.0",
                 ["1.0.0", "1.0", "sha-860c190", "latest"], id="tag18"),
    pytest.param(P1, ["type=match,pattern=p1/v(\\d.\\d.\\d),group=1",
                      "type=match,pattern=p1/v(\\d.\\d),group=1,suffix=",
                      "type=ref,event=pr", "type=sha"], ["suffix=-dev"], "1.0.0-dev",
                 ["1.0.0-dev", "1.0", "sha-860c190-dev", "latest"], id="tag19"),
    pytest.param(V111, ["type=raw,{{tag}}-{{sha}}-foo", "type=raw,{{base_ref}}-foo",
                        "type=raw,defbranch-foo,enable={{is_default_branch}}"], None,
                 "v1.1.1-860c190-foo", ["v1.1.1-860c190-foo", "master-foo"], id="tag20"),
    pytest.param(V111, ["type=semver,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}.{{patch}}"],
                 ["suffix=-dev,onlatest=true"], "1.1.1-dev", ["1.1.1-dev", "latest-dev"],
                 id="tag21"),
    pytest.param(V111, ["type=semver,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}.{{patch}}"],
                 ["prefix=foo-,onlatest=true", "suffix=-dev,onlatest=true"], "foo-1.1.1-dev",
                 ["foo-1.1.1-dev", "foo-latest-dev"], id="tag22"),
    pytest.param(V111, ["type=pep440,pattern={{raw}}", "type=pep440,pattern={{major}}.{{minor}}"],
                 None, "v1.1.1", ["v1.1.1", "1.1", "latest"], id="tag23"),
    pytest.param(tag("1.2"), ["type=pep440,pattern={{version}}",
                              "type=pep440,pattern={{major}}.{{minor}}"], None, "1.2",
                 ["1.2", "latest"], id="tag24"),
    pytest.param(tag("1.1beta2"), ["type=pep440,pattern={{major}}.{{minor}}",
                                   "type=pep440,pattern={{major}}"], None, "1.1b2", ["1.1b2"],
                 id="tag25"),
    pytest.param(tag("1.0dev4"), ["type=pep440,pattern={{major}}.{{minor}}",
                                  "type=pep440,pattern={{major}}"], None, "1.0.dev4",
                 ["1.0.dev4"], id="tag26"),
    pytest.param(tag("1.2.3rc2"), ["type=pep440,pattern={{raw}}",
                                   "type=pep440,pattern={{version}}",
                                   "type=pep440,pattern={{major}}.{{minor}}",
                                   "type=pep440,pattern={{major}}"], None, "1.2.3rc2",
                 ["1.2.3rc2"], id="tag27"),
    pytest.param(V111, ["type=pep440,pattern={{version}}",
                        "type=pep440,pattern={{major}}.{{minor}}.{{patch}}",
                        "type=pep440,pattern={{major}}.{{minor}}",
                        "type=pep440,pattern={{major}}"], None, "1.1.1",
                 ["1.1.1", "1.1", "1", "latest"], id="tag28"),
    pytest.param(tag("1.2post1"), ["type=pep440,pattern={{version}}",
                                   "type=pep440,pattern={{major}}.{{minor}}",
                                   "type=pep440,pattern={{major}}"], None, "1.2.post1",
                 ["1.2.post1"], id="tag29"),
    pytest.param(tag("sometag"), ["type=ref,event=tag", "type=pep440,pattern={{version}}",
                                  "type=pep440,pattern={{major}}.{{minor}}",
                                  "type=pep440,pattern={{major}}"],
                 LATEST_FALSE, "sometag", ["sometag"], id="tag30"),
    pytest.param(BETA, ["type=semver,pattern={{raw}}"], None, "v2.0.8-beta.67",
                 ["v2.0.8-beta.67"], id="tag31"),
    pytest.param(tag("v1.2.3rc2"), ["type=pep440,pattern={{raw}}",
                                    "type=pep440,pattern={{major}}.{{minor}}"], None,
                 "v1.2.3rc2", ["v1.2.3rc2", "1.2.3rc2"], id="tag32"),
    pytest.param(tag("v9.5.7-alpha.2+fork.3.1.8"), ["type=semver,pattern={{version}}",
                                                    "type=semver,pattern={{raw}}"], None,
                 "9.5.7-alpha.2", ["9.5.7-alpha.2", "v9.5.7-alpha.2-fork.3.1.8"],
                 id="semver-prerelease-with-build"),
    pytest.param(tag("v1.2.3+build.5"), ["type=semver,pattern={{version}}",
                                         "type=semver,pattern={{major}}.{{minor}}",
                                         "type=semver,pattern={{raw}}"], None, "1.2.3",
                 ["1.2.3", "1.2", "v1.2.3-build.5", "latest"], id="semver-build-metadata"),
    pytest.param(tag("docker-v23.0.0"), [
        "type=semver,pattern={{version}},match=docker-v(.*)",
        "type=semver,pattern={{major}}.{{minor}},match=docker-v(.*)",
        "type=semver,pattern={{major}},match=docker-v(.*)",
    ], None, "23.0.0", ["23.0.0", "23.0", "23", "latest"], id="semver-match"),
    pytest.param(V111, ["type=semver,pattern={{version}},match=docker-v(.*)"], None, "1.1.1",
                 ["1.1.1", "latest"], id="semver-match-misses-keeps-text"),
    pytest.param(tag("app-1.2.3"), ["type=pep440,pattern={{version}},match=app-(.*)"], None,
                 "1.2.3", ["1.2.3", "latest"], id="pep440-match"),
    pytest.param(PUSH_DEV, ["type=semver,pattern={{version}},value={{branch}}",
                            "type=ref,event=branch"], None, "dev", ["dev"],
                 id="semver-value-not-a-version"),
    pytest.param(PUSH_DEV, ["type=semver,pattern={{major}}.{{minor}},value=2.5.1",
                            "type=ref,event=branch"], None, "2.5", ["2.5", "dev", "latest"],
                 id="semver-value-on-branch"),
    pytest.param(tag("v0.1.2"), ["type=semver,pattern={{version}}",
                                 "type=semver,pattern={{major}}.{{minor}}",
                                 "type=semver,pattern={{major}}"], None, "0.1.2",
                 ["0.1.2", "0.1", "0", "latest"], id="semver-major-zero"),
    pytest.param(tag("v0.1.2"), ["type=semver,pattern={{version}}",
                                 "type=semver,pattern={{major}},enable=false"], None, "0.1.2",
                 ["0.1.2", "latest"], id="semver-major-zero-disabled"),
    pytest.param(tag("v1.2.3-rc.1"), ["type=semver,pattern={{major}}"], None, "1.2.3-rc.1",
                 ["1.2.3-rc.1"], id="semver-prerelease-full-version-only"),
    pytest.param(tag("v1.2.3-rc.1"), ["type=semver,pattern=v{{version}}"], None, "1.2.3-rc.1",
                 ["1.2.3-rc.1"], id="semver-prerelease-ignores-pattern"),
    pytest.param(tag("v1.2.3"), ["type=semver,pattern=v{{major}}"], None, "v1",
                 ["v1", "latest"], id="semver-pattern-with-text"),
    pytest.param(tag("1.2"), ["type=semver,pattern={{version}}"], None, None, [],
                 id="semver-two-parts-invalid"),
    pytest.param(tag("V1.2.3"), ["type=semver,pattern={{version}}"], None, None, [],
                 id="semver-capital-v-invalid"),
    pytest.param(P1, ["type=semver,pattern={{version}}"], None, None, [],
                 id="semver-tag-with-slash"),
    pytest.param(tag("1!2.0+abc"), ["type=pep440,pattern={{version}}",
                                    "type=pep440,pattern={{major}}.{{minor}}"], None,
                 "1-2.0-abc", ["1-2.0-abc", "2.0", "latest"], id="pep440-epoch-local"),
    pytest.param(tag("1.2post1"), ["type=pep440,pattern={{raw}}"], None, "1.2post1",
                 ["1.2post1"], id="pep440-post-raw"),
    pytest.param(tag("v1.0.0-Alpha_01"), ["type=pep440,pattern={{version}}"], None,
                 "1.0.0a1", ["1.0.0a1"], id="pep440-normalises"),
    pytest.param(tag("1.2"), ["type=pep440,pattern={{major}}.{{minor}}.{{patch}}"], None,
                 "1.2.0", ["1.2.0", "latest"], id="pep440-missing-patch-is-zero"),
    pytest.param(tag("release1"), ["type=pep440,pattern={{version}}"], None, None, [],
                 id="pep440-invalid"),
    pytest.param(V111, ["type=edge", "type=ref,event=branch"], None, None, [],
                 id="edge-on-tag"),
    pytest.param(V111, ["type=raw,value=a,priority=-5", "type=ref,event=tag"], None,
                 "v1.1.1", ["v1.1.1", "a", "latest"], id="negative-priority"),
    # latest
    pytest.param(tag("release1"), ['type=match,"pattern=^release\\d{1,2}"'], None, "release1",
                 ["release1", "latest"], id="latest01"),
    pytest.param(RC, ['type=match,"pattern=^\\d+-RC\\d{1,2}"'], None, "20200110-RC2",
                 ["20200110-RC2", "latest"], id="latest02"),
    pytest.param(RC, ["type=match,pattern=\\d{8}"], None, "20200110", ["20200110", "latest"],
                 id="latest03"),
    pytest.param(V111, None, None, "v1.1.1", ["v1.1.1", "latest"], id="latest05"),
    pytest.param(BETA, ['type=match,"pattern=\\d.\\d.\\d"'], None, "2.0.8", ["2.0.8", "latest"],
                 id="latest06"),
    pytest.param(V111, ["type=ref,event=tag"], LATEST_FALSE, "v1.1.1", ["v1.1.1"],
                 id="latest07"),
    pytest.param(PUSH_DEV, None, ["latest=true"], "dev", ["dev", "latest"],
                 id="latest-true-on-branch"),
    pytest.param(V111, ["type=semver,pattern={{version}}"], LATEST_FALSE, "1.1.1", ["1.1.1"],
                 id="latest-false-on-release"),
    pytest.param(PUSH_DEV, RAWS, ["latest=true", "prefix=x-,onlatest=true"], "x-my",
                 ["x-my", "x-custom", "x-tags", "x-latest"], id="latest-prefix-onlatest"),
    pytest.param(PUSH_DEV, RAWS, ["latest=true", "prefix=x-"], "x-my",
                 ["x-my", "x-custom", "x-tags", "latest"], id="latest-prefix-not-onlatest"),
    pytest.param(PUSH_DEV, ["type=raw,x"], ["latest=true", "suffix=-{{branch}},onlatest=true"],
                 "x-dev", ["x-dev", "latest-dev"], id="latest-suffix-expression"),
    pytest.param(V111, ["type=semver,pattern={{version}}", "type=raw,value=latest"], None,
                 "1.1.1", ["1.1.1", "latest"], id="latest-not-doubled"),
    pytest.param(PUSH_DEV, [], ["latest=true"], "dev", ["dev", "latest"],
                 id="empty-rules-mean-defaults"),
    # pull requests
    pytest.param(PR, None, None, "pr-15", ["pr-15"], id="pr01"),
    pytest.param(PR, ["type=ref,event=pr", "type=sha"], None, "pr-15",
                 ["pr-15", "sha-a9c8c58"], id="pr03"),
    pytest.param(PR, ["type=sha,priority=2000", "type=ref,event=pr"], None, "sha-a9c8c58",
                 ["sha-a9c8c58", "pr-15"], id="pr04"),
    pytest.param(PR, ["type=ref,event=pr"], ["prefix=glo-", "suffix=-bal"], "pr-15-bal",
                 ["pr-15-bal"], id="pr05"),
    pytest.param(PR, ["type=ref,event=pr,prefix="], ["prefix=glo-", "suffix=-bal"], "15-bal",
                 ["15-bal"], id="pr06"),
    pytest.param(PR_TARGET, ["type=sha,priority=2000", "type=ref,event=pr"], None,
                 "sha-2665741", ["sha-2665741", "pr-15"], id="pr07"),
    pytest.param(PR_TARGET, ["type=ref,event=pr,prefix="], ["prefix=glo-", "suffix=-bal"],
                 "15-bal", ["15-bal"], id="pr08"),
    pytest.param(PR_TARGET, ["type=ref,event=tag", "type=ref,event=pr", "type=ref,event=branch",
                             "type=sha", "type=sha,format=long"], None, "pr-15",
                 ["pr-15", "sha-2665741", f"sha-{SHA_MASTER}"], id="pr09"),
    pytest.param(PR_TARGET, ["type=raw,value=mytag-{{base_ref}}",
                             "type=raw,mytag-defbranch,enable={{is_default_branch}}"], None,
                 "mytag-master", ["mytag-master"], id="pr10"),
    pytest.param(PR, ["type=raw,value=mytag-{{base_ref}}",
                      "type=raw,mytag-defbranch,enable={{is_default_branch}}"], None,
                 "mytag-master", ["mytag-master"], id="pr11"),
    pytest.param(PR, ["type=raw,value={{commit_date YYYY-MM-DD-HHmmSS}}"], None,
                 "2020-01-10T00-30-00Z", ["2020-01-10T00-30-00Z"], id="pr12"),
    pytest.param(PR, ["type=raw,value=src-{{commit_date YYYY-MM-DD}}"], None,
                 "src-2020-01-10T00-30-00Z", ["src-2020-01-10T00-30-00Z"],
                 id="pr12-unquoted-format"),
    pytest.param(PR, ["type=raw,value={{date tz='Asia/Tokyo'}}"], None,
                 "2020-01-10T09-30-00-09-00", ["2020-01-10T09-30-00-09-00"],
                 id="date-default-format-with-zone"),
    pytest.param(PR, ["type=raw,value=b-{{branch}}", "type=ref,event=branch"], None, "b-",
                 ["b-"], id="pr-branch-expression-empty"),
    pytest.param(ctx("refs/pull/7/head", event="pull_request"), None, None, "pr-7-head",
                 ["pr-7-head"], id="pr-head-ref"),
    pytest.param(PR, ["type=edge", "type=semver,pattern={{version}}"], None, None, [],
                 id="pr-edge-semver-nothing"),
    # schedule
    pytest.param(SCHEDULE, None, None, "nightly", ["nightly", "master"], id="schedule01"),
    pytest.param(SCHEDULE, ["type=schedule,pattern={{date 'YYYYMMDD'}}",
                            "type=schedule,pattern=source-date-{{commit_date 'YYYY-MM-DD'}}"],
                 None, "20200110", ["20200110", "source-date-2020-01-10"], id="schedule02"),
    pytest.param(SCHEDULE, ["type=schedule,pattern={{date 'YYYYMMDD-HHmmss'}}"], None,
                 "20200110-003000", ["20200110-003000"], id="schedule03"),
    pytest.param(SCHEDULE, ["type=schedule", "type=sha"], None, "nightly",
                 ["nightly", "sha-860c190"], id="schedule05"),
    pytest.param(SCHEDULE, ["type=schedule", "type=sha,priority=2000",
                            "type=raw,value=defbranch,enable={{is_default_branch}}"], None,
                 "sha-860c190", ["sha-860c190", "nightly", "defbranch"], id="schedule06"),
    pytest.param(SCHEDULE, ["type=schedule"], ["prefix=glo-", "suffix=-bal"],
                 "glo-nightly-bal", ["glo-nightly-bal"], id="schedule07"),
    pytest.param(SCHEDULE, [
        "type=schedule,pattern={{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}",
        "type=schedule,pattern=src-{{commit_date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}",
    ], None, "20200110-093000", ["20200110-093000", "src-20200110-093000"], id="schedule08"),
    pytest.param(PUSH_MASTER, ["type=schedule", "type=ref,event=branch"], None, "master",
                 ["master"], id="schedule-on-push"),
    pytest.param(dataclasses.replace(SCHEDULE, commit_date=NOW - timedelta(minutes=31)),
                 ["type=schedule,pattern={{commit_date 'YYYYMMDD'}}-{{date 'YYYYMMDD'}}"], None,
                 "20200109-20200110", ["20200109-20200110"], id="schedule-commit-date"),
    pytest.param(ctx("refs/heads/dev", event="schedule"),
                 ["type=raw,value=defbranch,enable={{is_default_branch}}"], None, "defbranch",
                 ["defbranch"], id="schedule-counts-as-default-branch"),
    pytest.param(ctx("refs/heads/master", event="schedule", commit_date=None),
                 ["type=schedule,pattern={{commit_date 'YYYYMMDD'}}"], None, "20200110",
                 ["20200110"], id="commit-date-unknown-is-now"),
    # release events
    pytest.param(RELEASE, None, None, "v1.1.1", ["v1.1.1", "latest"], id="release01"),
    pytest.param(RELEASE, ["type=ref,event=tag", "type=raw,value=baseref-{{base_ref}}",
                           "type=raw,value=defbranch,enable={{is_default_branch}}"], None,
                 "v1.1.1", ["v1.1.1", "baseref-", "latest"], id="release02"),
    pytest.param(RELEASE, ["type=raw,value=src-{{commit_date 'YYYYMMDD-HHmmss'}}",
                           "type=raw,value={{date 'YYYYMMDD-HHmmss'}}"], None,
                 "src-20200110-003000", ["src-20200110-003000", "20200110-003000"],
                 id="release03"),
    # raw
    pytest.param(PUSH_DEV, ["type=ref,event=branch", *RAWS], None, "dev",
                 ["dev", "my", "custom", "tags"], id="raw01"),
    pytest.param(PUSH_DEV, ["type=ref,event=branch", "type=raw,my"], None, "dev", ["dev", "my"],
                 id="raw02"),
    pytest.param(tag("release1"), ["type=ref,event=tag", *RAWS], None, "release1",
                 ["release1", "my", "custom", "tags", "latest"], id="raw03"),
    pytest.param(RC, ["type=match,pattern=\\d{8}", *RAWS], LATEST_FALSE, "20200110",
                 ["20200110", "my", "custom", "tags"], id="raw04"),
    pytest.param(V111, ["type=semver,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}",
                        "type=semver,pattern={{major}}", *RAWS], None, "1.1.1",
                 ["1.1.1", "1.1", "1", "my", "custom", "tags", "latest"], id="raw05"),
    pytest.param(V111, RAWS, None, "my", ["my", "custom", "tags"], id="raw06"),
    pytest.param(PUSH_DEV, ["type=ref,priority=90,event=branch", *RAWS], ["latest=true"], "my",
                 ["my", "custom", "tags", "dev", "latest"], id="raw07"),
    pytest.param(PUSH_DEV, ["type=match,pattern=\\d{8}", *RAWS], LATEST_FALSE, "my",
                 ["my", "custom", "tags"], id="raw08"),
    pytest.param(PUSH_DEV, ["type=match,pattern=\\d{8}", "type=raw,my,prefix=foo-,suffix=-bar",
                            "type=raw,custom", "type=raw,tags"],
                 ["latest=false", "prefix=glo-", "suffix=-bal"], "foo-my-bar",
                 ["foo-my-bar", "glo-custom-bal", "glo-tags-bal"], id="raw09"),
    pytest.param(PUSH_DEV, ["type=raw,foo", "type=raw,bar,enable=false",
                            "type=raw,baz,enable=true"], LATEST_FALSE, "foo", ["foo", "baz"],
                 id="raw10"),
    pytest.param(PUSH_DEV, ["stable"], None, "stable", ["stable"], id="raw-bare-line"),
    pytest.param(PUSH_DEV, ["type=raw,value=a=b"], None, "a-b", ["a-b"],
                 id="raw-value-with-equals"),
    pytest.param(PUSH_DEV, ["type=raw,\"value={{date 'YYYY,MM'}}\""], None, "2020-01",
                 ["2020-01"], id="raw-quoted-field"),
    pytest.param(PUSH_DEV, ["type=raw,\"value=say \"\"hi\"\"\""], None, "say-hi-",
                 ["say-hi-"], id="raw-quoted-quotes"),
    pytest.param(PUSH_DEV, ["type=raw,\"value={{date 'dddd, MMMM Do YYYY'}}\""], None,
                 "Friday-January-10th-2020", ["Friday-January-10th-2020"], id="date-words"),
    pytest.param(PUSH_DEV, ["type=raw,value={{date '[build-]YYYY'}}"], None, "build-2020",
                 ["build-2020"], id="date-escaped-text"),
    pytest.param(PUSH_DEV, ["type=raw,value=---", "type=raw,value=", "type=raw,ok"], None, "ok",
                 ["ok"], id="raw-empty-after-sanitising"),
    pytest.param(PUSH_DEV, ["type=raw,value=a,priority=1", "type=raw,value=b,priority=1"], None,
                 "a", ["a", "b"], id="equal-priority-keeps-order"),
    pytest.param(PUSH_DEV, ["type=raw,foo,"], None, "foo", ["foo"], id="empty-field-ignored"),
    pytest.param(PUSH_DEV, ["  type = raw , value = spaced  "], None, "spaced", ["spaced"],
                 id="fields-trimmed"),
    pytest.param(PUSH_DEV, ["TYPE=raw,VALUE=upper"], None, "upper", ["upper"],
                 id="keys-case-insensitive"),
    pytest.param(PUSH_DEV, ["type=raw,value=" + "x" * 200], None, "x" * 128, ["x" * 128],
                 id="tag-cut-to-128"),
    # sha
    pytest.param(PUSH_DEV, ["type=sha,prefix="], None, "860c190", ["860c190"],
                 id="sha-no-prefix"),
    pytest.param(PUSH_DEV, ["type=sha,suffix=-x"], ["suffix=-y"], "sha-860c190-x",
                 ["sha-860c190-x"], id="sha-rule-suffix-wins"),
    pytest.param(PUSH_DEV, ["type=sha"], ["prefix=p-"], "sha-860c190", ["sha-860c190"],
                 id="sha-default-prefix-wins"),
    # Dockyard's own expressions and tag policies (see docs/tagging.md)
    pytest.param(tag("v1.2.3", run_number="567"),
                 ["type=semver,pattern={{version}},prefix=app-,suffix=-b{{run_number}}-d{{sha}}"],
                 None, "app-1.2.3-b567-d860c190", ["app-1.2.3-b567-d860c190", "latest"],
                 id="policy-build-info"),
    pytest.param(PUSH_DEV, ["type=raw,value=g{{sha '10'}}", "type=raw,value={{sha '40'}}"],
                 None, "g860c1904a1", ["g860c1904a1", SHA_DEV], id="sha-length"),
    pytest.param(PUSH_DEV, ["type=raw,value=run-{{run_id}}-{{run_number}}"], None,
                 "run-987654-42", ["run-987654-42"], id="run-id-and-number"),
    pytest.param(ctx("refs/heads/dev", run_number=None), ["type=raw,value=b{{run_number}}",
                                                          "type=ref,event=branch"],
                 None, "dev", ["dev"], id="run-number-unknown-skips-rule"),
    pytest.param(V111, ["type=semver,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}"],
                 ["suffix=-production-amd64,onlatest=true"], "1.1.1-production-amd64",
                 ["1.1.1-production-amd64", "1.1-production-amd64", "latest-production-amd64"],
                 id="policy-environment-architecture"),
    pytest.param(ctx("refs/heads/dev", run_number=None), ["type=raw,x,suffix="],
                 ["latest=true", "suffix=-b{{run_number}},onlatest=true"], "x", ["x"],
                 id="latest-skipped-when-its-suffix-is-unknown"),
    pytest.param(tag("1.2"), ["type=pep440,pattern={{version}}",
                              "type=pep440,pattern={{major}}.{{minor}}"], LATEST_FALSE, "1.2",
                 ["1.2"], id="pep440-line-equal-to-release-is-not-ambiguous"),
    pytest.param(tag("v1.2.3+build.5"), ["type=semver,pattern={{version}}-{{build}}"], None,
                 "1.2.3-build-5", ["1.2.3-build-5", "latest"], id="semver-build-expression"),
    pytest.param(PUSH_MASTER, DRONE, LATEST_FALSE, "latest", ["latest"],
                 id="drone-auto-tag-default-branch"),
    pytest.param(PUSH_DEV, DRONE, LATEST_FALSE, None, [], id="drone-auto-tag-other-branch"),
    pytest.param(tag("v1.2.3"), DRONE, LATEST_FALSE, "1.2.3", ["1.2.3", "1.2", "1"],
                 id="drone-auto-tag-release"),
    pytest.param(tag("v1.2.3-rc.1"), DRONE, LATEST_FALSE, "1.2.3-rc.1", ["1.2.3-rc.1"],
                 id="drone-auto-tag-prerelease"),
    pytest.param(tag("v1.2.3"), ["type=semver,pattern={{version}}",
                                 "type=semver,pattern={{major}}",
                                 "type=raw,value=linux-amd64,suffix=,enable={{is_default_branch}}"],
                 ["latest=false", "suffix=-linux-amd64"], "1.2.3-linux-amd64",
                 ["1.2.3-linux-amd64", "1-linux-amd64"], id="drone-auto-tag-suffix"),
    pytest.param(tag("v1.2.3+build.5"), ["type=semver,pattern={{version}}_{{build}}"], None,
                 "1.2.3_build-5", ["1.2.3_build-5", "latest"], id="semver-build-underscore"),
]


def plan_of(context: Context, rules: Sequence[str] | None, flavor: Sequence[str] | None
            ) -> tuple[str | None, list[str]]:
    parsed = parse_rules(rules) if rules is not None else None
    plan = compute_tags(parsed, parse_flavor(flavor), context)
    return plan.version, [t.name for t in plan.tags]


@pytest.mark.parametrize(("context", "rules", "flavor", "version", "tags"), CASES)
def test_tags(context: Context, rules: list[str] | None, flavor: list[str] | None,
              version: str | None, tags: list[str]) -> None:
    assert plan_of(context, rules, flavor) == (version, tags)


Case = tuple[Context, "list[str] | None", "list[str] | None", "str | None", "list[str]"]


def unpack(case: Any) -> Case:
    context, rules, flavor, version, tags = case.values
    return context, rules, flavor, version, tags


@pytest.mark.parametrize("provider", ["gitlab", "jenkins", "local"])
def test_provider_does_not_change_tags(provider: str) -> None:
    """Adapters map every CI onto one context; the rules read only that."""
    for case in CASES:
        context, rules, flavor, version, tags = unpack(case)
        other = dataclasses.replace(context, provider=provider)
        assert plan_of(other, rules, flavor) == (version, tags), case.id


def test_tags_are_in_priority_order_and_unique() -> None:
    for case in CASES:
        context, rules, flavor, _, _ = unpack(case)
        parsed = parse_rules(rules) if rules is not None else None
        plan = compute_tags(parsed, parse_flavor(flavor), context)
        priorities = [t.priority for t in plan.tags]
        assert priorities == sorted(priorities, reverse=True), case.id
        names = [t.name for t in plan.tags]
        assert len(names) == len(set(names)), case.id
        assert all(sanitize_tag(name) == name for name in names), case.id


def test_none_and_default_rules_agree() -> None:
    for context in (PUSH_DEV, V111, PR, SCHEDULE):
        assert compute_tags(None, Flavor(), context) == compute_tags(
            default_rules(), Flavor(), context)


@pytest.mark.parametrize(
    ("context", "rules", "floating"),
    [
        (V111, ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
                "type=semver,pattern={{major}}", "type=ref,event=tag", "type=sha",
                "type=raw,foo"],
         {"1.1.1": False, "1.1": True, "1": True, "v1.1.1": False, "sha-860c190": False,
          "foo": True, "latest": True}),
        (tag("v1.2.3"), ["type=semver,pattern={{major}}.{{minor}}.{{patch}}",
                         "type=semver,pattern=v{{raw}}"],
         {"1.2.3": False, "vv1.2.3": False, "latest": True}),
        (BETA, ["type=semver,pattern={{major}}", 'type=match,"pattern=\\d.\\d.\\d"',
                'type=match,"pattern=\\d.\\d"'],
         {"2.0.8-beta.67": False, "2.0.8": False, "2.0": True}),
        (RC, ["type=match,pattern=\\d{8}", "type=match,pattern=.*"],
         {"20200110": True, "20200110-RC2": False, "latest": True}),
        (tag("1.2.3"), ["type=pep440,pattern={{version}}", "type=pep440,pattern={{major}}"],
         {"1.2.3": False, "1": True, "latest": True}),
        (PUSH_MASTER, ["type=ref,event=branch", "type=edge", "type=sha,format=long"],
         {"master": True, "edge": True, f"sha-{SHA_MASTER}": False}),
        (PR, None, {"pr-15": True}),
        (SCHEDULE, ["type=schedule"], {"nightly": True}),
    ],
)
def test_floating(context: Context, rules: list[str] | None, floating: dict[str, bool]) -> None:
    parsed = parse_rules(rules) if rules is not None else None
    plan = compute_tags(parsed, Flavor(), context)
    assert {t.name: t.floating for t in plan.tags} == floating


def test_explain_names_rule_and_priority() -> None:
    plan = compute_tags(parse_rules(["type=sha", "type=semver,pattern={{version}}"]), Flavor(),
                        V111)
    assert [(t.name, t.rule, t.priority) for t in plan.tags] == [
        ("1.1.1", "type=semver,pattern={{version}}", 900),
        ("sha-860c190", "type=sha", 100),
        ("latest", "flavor latest=auto", 0),
    ]


@pytest.mark.parametrize(
    ("context", "rules", "flavor", "rule", "reason"),
    [
        (PUSH_MASTER, ["type=semver,pattern={{version}}"], None,
         "type=semver,pattern={{version}}", "not a tag event (ref is refs/heads/master)"),
        (PUSH_MASTER, ["type=raw,x,enable=false"], None, "type=raw,x,enable=false",
         "disabled (enable=false)"),
        (PUSH_DEV, ["type=raw,x,enable={{is_default_branch}}"], None,
         "type=raw,x,enable={{is_default_branch}}", "disabled ({{is_default_branch}} is false)"),
        (PUSH_MASTER, ["type=semver,pattern={{version}},value={{branch}}"], None,
         "type=semver,pattern={{version}},value={{branch}}", "'master' is not a semver version"),
        (tag("release1"), ["type=pep440,pattern={{version}}"], None,
         "type=pep440,pattern={{version}}", "'release1' is not a PEP 440 version"),
        (V111, ["type=ref,event=branch"], None, "type=ref,event=branch",
         "not a branch event (ref is refs/tags/v1.1.1)"),
        (V111, ["type=ref,event=pr"], None, "type=ref,event=pr",
         "not a pull request (ref is refs/tags/v1.1.1)"),
        (PUSH_DEV, ["type=edge"], None, "type=edge",
         "branch 'dev' is not the edge branch 'master'"),
        (PUSH_DEV, ["type=schedule"], None, "type=schedule",
         "not a scheduled run (event is push)"),
        (tag("sometag"), ["type=match,pattern=\\d"], None, "type=match,pattern=\\d",
         "pattern '\\d' does not match 'sometag'"),
        (P1, ["type=match,pattern=p1/v(\\d.\\d),group=3"], None,
         "type=match,pattern=p1/v(\\d.\\d),group=3", "group 3 of pattern"),
        (ctx("", sha=""), ["type=sha"], None, "type=sha", "the commit sha is unknown"),
        (ctx(""), ["type=ref,event=tag"], None, "type=ref,event=tag", "no git ref is known"),
        (PUSH_DEV, ["type=raw,value="], None, "type=raw,value=", "gives an empty tag"),
        (BETA, ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}"], None,
         "type=semver,pattern={{major}}", "tagged with its full version only"),
        (PUSH_DEV, ["type=ref,event=branch"], None, "flavor latest=auto",
         "the first tag ('dev' from 'type=ref,event=branch') is not a release"),
        (V111, ["type=ref,event=tag"], LATEST_FALSE, "flavor latest=false", "latest=false"),
        (V111, ["type=ref,event=tag", "type=raw,latest"], None, "flavor latest=auto",
         "gives 'latest', already given by 'type=raw,latest'"),
        (ctx("refs/heads/dev", provider="local", run_number=None),
         ["type=raw,value=b{{run_number}}"], None, "type=raw,value=b{{run_number}}",
         "{{run_number}} is unknown outside CI: the CI run sets it"),
        (ctx("refs/heads/dev", provider="gitlab", run_id=None), ["type=raw,value={{run_id}}"],
         None, "type=raw,value={{run_id}}", "{{run_id}} is unknown on gitlab"),
        (ctx("refs/heads/dev", shallow=True, provider="local"),
         ["type=semver,pattern={{version}}"], None, "type=semver,pattern={{version}}",
         "the clone is shallow, so a tag on this commit may not have been fetched: run "
         "`git fetch --tags --unshallow`"),
    ],
)
def test_skipped_reason(context: Context, rules: list[str], flavor: list[str] | None, rule: str,
                        reason: str) -> None:
    plan = compute_tags(parse_rules(rules), parse_flavor(flavor), context)
    reasons = {s.rule: s.reason for s in plan.skipped}
    assert reason in reasons[rule]


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("line", "type_", "attrs"),
    [
        ("type=schedule,enable=true,pattern={{date 'YYYYMMDD'}}", "schedule",
         {"priority": "1000", "enable": "true", "pattern": "{{date 'YYYYMMDD'}}"}),
        ("type=schedule", "schedule", {"priority": "1000", "enable": "true", "pattern": "nightly"}),
        ("type=semver,enable=true,pattern={{version}}", "semver",
         {"priority": "900", "enable": "true", "pattern": "{{version}}", "value": "",
          "match": ""}),
        ("type=semver,priority=1,enable=true,pattern={{version}},value=v1.0.0", "semver",
         {"priority": "1", "enable": "true", "pattern": "{{version}}", "value": "v1.0.0",
          "match": ""}),
        ("type=pep440,pattern={{version}}", "pep440",
         {"priority": "900", "enable": "true", "pattern": "{{version}}", "value": "",
          "match": ""}),
        ('type=match,enable=true,"pattern=^v(\\d.\\d.\\d)$",group=1', "match",
         {"priority": "800", "enable": "true", "pattern": "^v(\\d.\\d.\\d)$", "group": "1",
          "value": ""}),
        ("type=match,pattern=v(.*)", "match",
         {"priority": "800", "enable": "true", "pattern": "v(.*)", "group": "0", "value": ""}),
        ("type=edge", "edge", {"priority": "700", "enable": "true", "branch": ""}),
        ("type=ref,event=tag", "ref", {"priority": "600", "enable": "true", "event": "tag"}),
        ("type=ref,event=pr", "ref",
         {"priority": "600", "enable": "true", "event": "pr", "prefix": "pr-"}),
        ("acustomtag", "raw", {"priority": "200", "enable": "true", "value": "acustomtag"}),
        ("type=raw,enable=false,value=acustomtag5", "raw",
         {"priority": "200", "enable": "false", "value": "acustomtag5"}),
        ("type=sha", "sha",
         {"priority": "100", "enable": "true", "prefix": "sha-", "format": "short"}),
        ("type=sha,prefix=,format=long", "sha",
         {"priority": "100", "enable": "true", "prefix": "", "format": "long"}),
    ],
)
def test_parse_rule_defaults(line: str, type_: str, attrs: dict[str, str]) -> None:
    (rule,) = parse_rules([line])
    assert (rule.type, dict(rule.attrs), rule.source) == (type_, attrs, line)
    assert rule.priority == int(attrs["priority"])


def test_default_rules_are_metadata_actions() -> None:
    assert [r.source for r in default_rules()] == [
        "type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"]
    assert DEFAULT_PRIORITIES == {"schedule": 1000, "semver": 900, "pep440": 900, "match": 800,
                                  "edge": 700, "ref": 600, "raw": 200, "sha": 100}


def test_parse_rules_skips_blank_and_comment_lines() -> None:
    rules = parse_rules(["", "# a comment", "type=sha"])
    assert [r.source for r in rules] == ["type=sha"]
    assert parse_rules("type=sha\ntype=edge\n") == parse_rules(["type=sha", "type=edge"])


def test_rules_are_hashable_values() -> None:
    assert hash(parse_rules(["type=sha"])[0]) == hash(parse_rules(["type=sha"])[0])


BAD_RULES = [
    ("type=semver", ["pattern attribute is required"]),
    ("type=pep440,value=1.0", ["pattern attribute is required"]),
    ("type=match", ["pattern attribute is required"]),
    ("type=ref", ["event attribute is required", "event=branch, event=tag or event=pr"]),
    ("type=ref,event=foo", ["event 'foo'", "branch, tag or pr"]),
    ("type=ref,event=tags", ["event 'tags'", "did you mean 'tag'"]),
    ("type=raw", ["value attribute is required"]),
    ("type=foo", ["unknown type 'foo'", "schedule, semver, pep440, match, edge, ref, raw, sha"]),
    ("type=semvr,pattern={{version}}", ["did you mean 'semver'"]),
    ("type=sha,format=foo", ["format 'foo'", "short or long"]),
    ("type=match,pattern=v(.*),group=foo", ["group 'foo'", "whole number"]),
    ("type=semver,patern={{version}}", ["attribute 'patern'", "did you mean 'pattern'",
                                        "pattern attribute is required",
                                        "allowed: enable, priority, prefix, suffix, pattern"]),
    ("type=sha,event=pr", ["unknown attribute 'event' for type=sha",
                           "allowed: enable, priority, prefix, suffix, format"]),
    ("type=raw,value=x,priority=high", ["priority 'high'", "whole number"]),
    ("type=raw,value=x,priority=1.5", ["priority '1.5'"]),
    ("type=raw,value=x,enable=yes", ["enable 'yes'", "true, false, {{is_default_branch}}"]),
    ("type=raw,value=x,enable={{branch}}", ["enable '{{branch}}'"]),
    ("type=raw,value={{bogus}}", ["value:", "unknown expression '{{bogus}}'", "{{branch}}"]),
    ("type=raw,value={{brnch}}", ["did you mean 'branch'"]),
    ("type=raw,value={{branch 'x'}}", ["'{{branch}}' takes no arguments"]),
    ("type=raw,value={{branch", ["value: '{{' at column 1 is never closed"]),
    ("type=raw,value={{#if tag}}x{{/if}}", ["is not supported"]),
    ("type=raw,value=x,prefix={{foo}}-", ["prefix:", "unknown expression '{{foo}}'"]),
    ("type=raw,value=x,suffix=-{{date 'YY' 'MM'}}", ["suffix:", "takes one format"]),
    ("type=schedule,pattern={{date 'YYYY' foo='x'}}", ["unknown option 'foo'", "tz='ZONE'"]),
    ("type=schedule,pattern={{date 'YYYY' tz='Mars/Olympus'}}",
     ["unknown time zone 'Mars/Olympus'"]),
    ("type=schedule,pattern={{date 'YYYY' tz=Europe}}", ["tz must be quoted"]),
    ("type=schedule,pattern={{branch}}", ["pattern:", "unknown expression '{{branch}}'",
                                          "allowed here: {{date}}, {{commit_date}}"]),
    ("type=semver,pattern={{sha}}", ["pattern:", "unknown expression '{{sha}}'", "{{version}}"]),
    ("type=pep440,pattern={{prerelease}}", ["unknown expression '{{prerelease}}'"]),
    ("type=semver,pattern={{version}},match=nogroup", ["match 'nogroup' needs a capture group"]),
    ("type=semver,pattern={{version}},match=(", ["match '('", "not a valid regular expression"]),
    ('type=match,"pattern=(unclosed"', ["pattern '(unclosed'", "not a valid regular expression"]),
    ("type=match,pattern=/x/q", ["pattern '/x/q'", "unknown flag 'q'"]),
    ('type=raw,value=a"b', ["stray double quote", "quote the whole field"]),
    ('type=raw,"value=abc', ["never closed"]),
    ('type=raw,"value=abc" x', ["unexpected text after the closing quote"]),
    ("type=raw,value=a\nb", ["one line"]),
    ("type=raw,value={{env.ARCH}}", ["unknown expression '{{env.ARCH}}'", "write ${ARCH}"]),
    ("type=raw,value={{github.run_number}}", ["write {{run_number}}"]),
    ("type=raw,value={{ci.x}}", ["CI expressions are not evaluated", "${NAME}"]),
    ("type=raw,value={{sha 'x'}}", ["length must be a quoted whole number from 1 to 64"]),
    ("type=raw,value={{sha '0'}}", ["length must be a quoted whole number"]),
    ("type=raw,value={{sha '12' '3'}}", ["takes one quoted length at most"]),
    ("type=raw,value={{sha tz='UTC'}}", ["takes one quoted length at most"]),
    ("type=raw,value={{run_number 'x'}}", ["'{{run_number}}' takes no arguments"]),
    ("type=schedule,pattern=n-{{run_number}}", ["unknown expression '{{run_number}}'"]),
]


@pytest.mark.parametrize(("line", "fragments"), BAD_RULES)
def test_parse_error_names_the_problem(line: str, fragments: list[str]) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules(["type=sha", line])
    assert {where for where, _ in info.value.problems} == {1}
    messages = " | ".join(message for _, message in info.value.problems)
    for fragment in fragments:
        assert fragment in messages


def test_parse_reports_every_problem_at_once() -> None:
    lines = [line for line, _ in BAD_RULES]
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules(["type=sha", *lines, "type=edge"])
    assert sorted({where for where, _ in info.value.problems}) == list(range(1, len(lines) + 1))
    assert f"{len(info.value.problems)} problems" in str(info.value)


def test_one_line_can_have_several_problems() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules(["type=sha,format=x,priority=y,colour=red"])
    messages = " | ".join(message for _, message in info.value.problems)
    assert len(info.value.problems) == 3
    for fragment in ("format 'x'", "priority 'y'", "attribute 'colour'"):
        assert fragment in messages


def test_parse_rejects_non_text() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rules(["type=sha", 5])  # type: ignore[list-item]
    assert info.value.problems == ((1, "a rule is a line of text, not int"),)


def test_rule_syntax_error_is_input_error_and_value_error() -> None:
    error = RuleSyntaxError([(0, "bad")])
    assert isinstance(error, InputError)
    assert isinstance(error, ValueError)
    assert error.exit_code == 2


def test_hand_built_rule_with_bad_enable_fails_when_computed() -> None:
    rule = TagRule(type="raw", attrs={"value": "x", "enable": "{{branch}}"},
                   source="type=raw,x,enable={{branch}}", priority=200)
    with pytest.raises(RuleSyntaxError) as info:
        compute_tags([rule], Flavor(), PUSH_DEV)
    assert info.value.problems == (
        ("type=raw,x,enable={{branch}}", "enable '{{branch}}' gives 'dev', not true or false"),)


# ----------------------------------------------------------------------------- flavor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Flavor()),
        ([], Flavor()),
        (["latest=true"], Flavor(latest="true")),
        (["latest=false"], Flavor(latest="false")),
        (["latest=auto"], Flavor(latest="auto")),
        (["prefix=sha-"], Flavor(prefix="sha-")),
        (["suffix=-alpine"], Flavor(suffix="-alpine")),
        (["latest=false", "prefix=dev-", "suffix=-alpine"],
         Flavor(latest="false", prefix="dev-", suffix="-alpine")),
        (["prefix=dev-,onlatest=true"], Flavor(prefix="dev-", prefix_onlatest=True)),
        (["suffix=-alpine,onlatest=true"], Flavor(suffix="-alpine", suffix_onlatest=True)),
        (["prefix=dev-,onlatest=true", "suffix=-alpine,onlatest=true"],
         Flavor(prefix="dev-", prefix_onlatest=True, suffix="-alpine", suffix_onlatest=True)),
        (["prefix= "], Flavor()),
        (["latest=true,prefix=a-,onlatest=true,suffix=-b"],
         Flavor(latest="true", prefix="a-", prefix_onlatest=True, suffix="-b")),
        ("latest=false\nprefix=x-", Flavor(latest="false", prefix="x-")),
        ({"latest": "auto", "prefix": "x-"}, Flavor(prefix="x-")),
        ({"latest": True, "suffix": "-slim", "suffix_onlatest": True},
         Flavor(latest="true", suffix="-slim", suffix_onlatest=True)),
        ({"latest": False, "prefix_onlatest": "false"}, Flavor(latest="false")),
    ],
)
def test_parse_flavor(value: Any, expected: Flavor) -> None:
    assert parse_flavor(value) == expected


@pytest.mark.parametrize(
    ("value", "where", "fragments"),
    [
        (["randomstr", "latest=auto"], 0, ["'randomstr' is not key=value"]),
        (["unknwown=foo"], 0, ["unknown flavor key 'unknwown'"]),
        (["latest"], 0, ["'latest' is not key=value"]),
        (["latest=foo"], 0, ["latest 'foo'", "auto, true or false"]),
        (["latest=auto", "lates=true"], 1, ["did you mean 'latest'"]),
        (["prefix=x-,onlatest=yes"], 0, ["onlatest 'yes'", "true or false"]),
        (["onlatest=true"], 0, ["onlatest applies to the prefix= or suffix= before it"]),
        (["prefix={{nope}}-"], 0, ["prefix:", "unknown expression '{{nope}}'"]),
        ({"latest": "maybe"}, "latest", ["latest 'maybe'"]),
        ({"prefix": 3}, "prefix", ["prefix must be text"]),
        ({"suffix_onlatest": "sometimes"}, "suffix_onlatest", ["use true or false"]),
        ({"preffix": "x"}, "preffix", ["did you mean 'prefix'"]),
        ({"suffix": "{{date 'X' tz='Nowhere'}}"}, "suffix", ["unknown time zone 'Nowhere'"]),
    ],
)
def test_parse_flavor_errors(value: Any, where: int | str, fragments: list[str]) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_flavor(value)
    ((found_where, message),) = info.value.problems
    assert found_where == where
    for fragment in fragments:
        assert fragment in message


def test_parse_flavor_reports_every_problem() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_flavor(["latest=x", "bogus=1", "onlatest=true"])
    assert [where for where, _ in info.value.problems] == [0, 1, 2]


# ------------------------------------------------------------------------- sanitising

DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3", "1.2.3"),
        ("feature/foo", "feature-foo"),
        ("a  b//c", "a-b-c"),
        ("1.2.3+build.5", "1.2.3-build.5"),
        ("-leading", "leading"),
        ("..dots", "dots"),
        ("_under", "_under"),
        ("/x", "x"),
        ("é", ""),
        ("", ""),
        ("x" * 129, "x" * 128),
    ],
)
def test_sanitize_tag_examples(value: str, expected: str) -> None:
    assert sanitize_tag(value) == expected


@given(st.text())
def test_sanitize_tag_gives_a_docker_tag(value: str) -> None:
    result = sanitize_tag(value)
    assert result == "" or DOCKER_TAG.fullmatch(result)
    assert sanitize_tag(result) == result


@given(st.from_regex(DOCKER_TAG, fullmatch=True))
def test_sanitize_tag_keeps_valid_tags(value: str) -> None:
    assert sanitize_tag(value) == value


# ------------------------------------------------------------------ moment.js formats

MOMENT = datetime(2020, 1, 10, 13, 5, 9, 123456, tzinfo=timezone(timedelta(hours=9), "JST"))


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("YYYYMMDD", "20200110"),
        ("YYYY-MM-DDTHH:mm:ss.SSSZ", "2020-01-10T13:05:09.123+09:00"),
        ("YY Y Q Qo", "20 2020 1 1st"),
        ("M Mo MM MMM MMMM", "1 1st 01 Jan January"),
        ("D Do DD DDD DDDo DDDD", "10 10th 10 10 10th 010"),
        ("d do dd ddd dddd e E", "5 5th Fr Fri Friday 5 5"),
        ("H HH h hh k kk a A", "13 13 1 01 13 13 pm PM"),
        ("m mm s ss S SS SSS SSSS", "5 05 9 09 1 12 123 1230"),
        ("Z ZZ z", "+09:00 +0900 JST"),
        ("X x", "1578629109 1578629109123"),
        ("w wo ww W Wo WW gg gggg GG GGGG", "2 2nd 02 2 2nd 02 20 2020 20 2020"),
        ("Hmm hmmss", "1305 10509"),
        ("[YYYY] \\Y", "YYYY Y"),
        ("[T", "[T"),
        ("LL LT", "January 10, 2020 1:05 PM"),
        ("l", "1/10/2020"),
        ("N NNNN y yo", "AD Anno Domini 2020 2020th"),
        ("YYYYYY", "+002020"),
        ("T", "T"),
    ],
)
def test_format_moment(fmt: str, expected: str) -> None:
    assert format_moment(MOMENT, fmt) == expected


@pytest.mark.parametrize(
    ("day", "week", "week_year"),
    [
        (date(2020, 1, 1), 1, 2020),
        (date(2020, 1, 5), 2, 2020),
        (date(2020, 12, 31), 1, 2021),
        (date(2021, 1, 2), 1, 2021),
        (date(2021, 1, 3), 2, 2021),
        (date(2022, 12, 31), 53, 2022),
    ],
)
def test_format_moment_english_week(day: date, week: int, week_year: int) -> None:
    when = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    assert format_moment(when, "w gggg") == f"{week} {week_year}"


@given(st.dates(min_value=date(1900, 1, 8), max_value=date(2200, 12, 24)))
def test_format_moment_iso_week(day: date) -> None:
    when = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    iso = day.isocalendar()
    assert format_moment(when, "W GGGG E") == f"{iso[1]} {iso[0]} {iso[2]}"


# ---------------------------------------------------------------------- ambiguity guard

# (context, rules, flavor, the tag, fragments of the message: both rules are named)
AMBIGUOUS = [
    pytest.param(ctx("refs/heads/1.2"), ["type=ref,event=branch",
                                         "type=semver,pattern={{major}}.{{minor}}"], None, "1.2",
                 ["'type=ref,event=branch' gives '1.2' as a branch tag (moved by every push",
                  "'type=semver,pattern={{major}}.{{minor}}' gives tags of that shape on tag "
                  "builds as a version tag", "prefix=branch-"], id="branch-shaped-like-line"),
    pytest.param(ctx("refs/heads/v2"), ["type=ref,event=branch",
                                        "type=semver,pattern=v{{major}}"], None, "v2",
                 ["'type=semver,pattern=v{{major}}'"], id="branch-shaped-like-v-major"),
    pytest.param(ctx("refs/heads/1.2.3"), ["type=ref,event=branch",
                                           "type=semver,pattern={{version}}"], None, "1.2.3",
                 ["as a release tag"], id="branch-shaped-like-release"),
    pytest.param(ctx("refs/heads/1.2"), ["type=ref,event=branch",
                                         "type=pep440,pattern={{major}}.{{minor}}"], None,
                 "1.2", ["'type=pep440,pattern={{major}}.{{minor}}'"],
                 id="branch-shaped-like-pep440-line"),
    pytest.param(PUSH_DEV, ["type=raw,value=1", "type=semver,pattern={{major}}"], None, "1",
                 ["'type=raw,value=1' gives '1' as a raw tag (moved by every build"],
                 id="raw-shaped-like-major"),
    pytest.param(ctx("refs/heads/1.2"), ["type=ref,event=branch,prefix=x-",
                                         "type=semver,pattern=x-{{major}}.{{minor}},prefix="],
                 None, "x-1.2", ["this build would move a version tag"],
                 id="shape-includes-prefixes"),
    pytest.param(PUSH_MASTER, ["type=semver,pattern={{major}},value=1.4.0", "type=raw,value=1"],
                 None, "1", ["'type=semver,pattern={{major}},value=1.4.0' gives '1' as a version "
                             "tag (moved to every new release of its line)",
                             "'type=raw,value=1' gives it as a raw tag",
                             "one tag cannot mean both"], id="raw-equals-major-same-build"),
    pytest.param(V111, ["type=ref,event=tag", "type=raw,value={{tag}}"], None, "v1.1.1",
                 ["as a release tag (one build, for good)", "as a raw tag"],
                 id="raw-copy-of-release"),
    pytest.param(V111, ["type=semver,pattern={{version}}", "type=match,pattern=\\d.\\d.\\d",
                        "type=semver,pattern={{major}}.{{minor}}",
                        "type=match,pattern=\\d.\\d,group=0,prefix=1."], None, "1.1.1",
                 ["as a release tag", "as a version tag"], id="release-and-line"),
    pytest.param(ctx("refs/heads/latest"), ["type=ref,event=branch"], ["latest=true"],
                 "latest", ["'type=ref,event=branch' gives 'latest' as a branch tag",
                            "'flavor latest=true' gives it as latest (moved to every new "
                            "release)"],
                 id="branch-named-latest"),
    pytest.param(ctx("refs/heads/feature"), ["type=ref,event=branch", "type=raw,value=1.2",
                                             "type=semver,pattern={{major}}.{{minor}}"], None,
                 "1.2", ["'type=raw,value=1.2'"], id="raw-shaped-like-line"),
]


@pytest.mark.parametrize(("context", "rules", "flavor", "name", "fragments"), AMBIGUOUS)
def test_ambiguous_tags_are_refused(context: Context, rules: list[str], flavor: list[str] | None,
                                    name: str, fragments: list[str]) -> None:
    with pytest.raises(AmbiguousTagError) as info:
        compute_tags(parse_rules(rules), parse_flavor(flavor), context)
    ((where, message),) = info.value.problems
    assert where == name
    for fragment in fragments:
        assert fragment in message
    assert info.value.exit_code == 2
    assert isinstance(info.value, RuleSyntaxError)
    assert str(info.value).startswith("1 ambiguous tag: two rules give one tag different meanings")


# The same tag from rules that mean the same by it: de-duplicated, as metadata-action does.
UNAMBIGUOUS = [
    pytest.param(V111, ["type=semver,pattern={{version}}", "type=pep440,pattern={{version}}",
                        "type=semver,pattern={{major}}.{{minor}}.{{patch}}",
                        "type=match,pattern=\\d.\\d.\\d"], None, ["1.1.1", "latest"],
                 id="releases"),
    pytest.param(V111, ["type=semver,pattern={{major}}.{{minor}}",
                        "type=match,pattern=\\d.\\d"], None, ["1.1", "latest"], id="lines"),
    pytest.param(V111, ["type=semver,pattern={{version}}", "type=raw,value=latest"], None,
                 ["1.1.1", "latest"], id="raw-latest-means-latest"),
    pytest.param(PUSH_MASTER, ["type=ref,event=branch", "type=raw,value=master",
                               "type=raw,value={{branch}}"], None, ["master"],
                 id="moving-tags"),
    pytest.param(ctx("refs/heads/1.2"), ["type=ref,event=branch,prefix=branch-",
                                         "type=semver,pattern={{major}}.{{minor}}"], None,
                 ["branch-1.2"], id="branch-with-its-own-prefix"),
    pytest.param(ctx("refs/heads/1.2"), ["type=ref,event=branch",
                                         "type=semver,pattern={{major}}.{{minor}},enable=false"],
                 None, ["1.2"], id="disabled-version-rule"),
    pytest.param(ctx("refs/heads/1.2"), ["type=ref,event=branch",
                                         "type=semver,pattern={{version}},suffix=-b{{run_number}}"],
                 None, ["1.2"], id="per-build-version-tags"),
    pytest.param(SCHEDULE, ["type=schedule,pattern={{date 'YYYYMMDD'}}",
                            "type=semver,pattern={{major}}"], None, ["20200110"],
                 id="dated-nightly-is-not-a-major"),
    pytest.param(ctx("refs/heads/1.x"), ["type=ref,event=branch",
                                         "type=semver,pattern={{major}}.{{minor}}"], None,
                 ["1.x"], id="branch-not-version-shaped"),
    pytest.param(BETA, ["type=semver,pattern={{major}}.{{minor}}",
                        "type=semver,pattern={{major}}"], None, ["2.0.8-beta.67"],
                 id="prerelease-full-version-twice"),
]


@pytest.mark.parametrize(("context", "rules", "flavor", "tags"), UNAMBIGUOUS)
def test_same_meaning_is_not_ambiguous(context: Context, rules: list[str],
                                       flavor: list[str] | None, tags: list[str]) -> None:
    plan = compute_tags(parse_rules(rules), parse_flavor(flavor), context)
    assert [t.name for t in plan.tags] == tags


def test_every_ambiguity_is_reported_at_once() -> None:
    rules = parse_rules(["type=ref,event=branch", "type=raw,value=2",
                         "type=semver,pattern={{major}}.{{minor}}",
                         "type=semver,pattern={{major}}"])
    with pytest.raises(AmbiguousTagError) as info:
        compute_tags(rules, Flavor(), ctx("refs/heads/1.2"))
    assert [where for where, _ in info.value.problems] == ["1.2", "2"]
    assert str(info.value).startswith("2 ambiguous tags")


def test_floating_follows_meaning() -> None:
    plan = compute_tags(parse_rules(["type=pep440,pattern={{major}}.{{minor}}"]), Flavor(),
                        tag("1.2"))
    assert [(t.name, t.floating) for t in plan.tags] == [("1.2", False), ("latest", True)]


# ---------------------------------------------------------------- branch-name properties

BRANCH_RULE = parse_rules(["type=ref,event=branch"])


@given(st.text(min_size=1, max_size=300), st.sampled_from([Flavor(), Flavor(prefix="app-"),
                                                           Flavor(suffix="-amd64")]))
def test_any_branch_name_gives_a_valid_stable_idempotent_tag(name: str, flavor: Flavor) -> None:
    context = ctx(f"refs/heads/{name}")
    plan = compute_tags(BRANCH_RULE, flavor, context)
    assert compute_tags(BRANCH_RULE, flavor, context) == plan  # stable
    for planned in plan.tags:
        assert DOCKER_TAG.fullmatch(planned.name)
        assert sanitize_tag(planned.name) == planned.name
    if plan.tags and flavor == Flavor():
        # idempotent: a branch named after the tag gives that very tag
        (planned,) = plan.tags
        again = compute_tags(BRANCH_RULE, flavor, ctx(f"refs/heads/{planned.name}"))
        assert [t.name for t in again.tags] == [planned.name]
    else:
        assert plan.tags or not sanitize_tag(name)


@given(st.text(min_size=1, max_size=100))
def test_no_branch_name_makes_the_defaults_ambiguous(name: str) -> None:
    plan = compute_tags(None, Flavor(), ctx(f"refs/heads/{name}"))
    assert [t.name for t in plan.tags] == ([sanitize_tag(name)] if sanitize_tag(name) else [])
