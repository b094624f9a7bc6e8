"""The command line: parse, build settings, call the pipeline once, render, map exit codes.

stdout carries only the result (`--format json`: one JSON object); everything meant for
people goes to stderr. All text leaving the process passes through `secrets.redact`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from dockyard import __version__, secrets
from dockyard.ci import github_api
from dockyard.ci import outputs as ci_outputs
from dockyard.ci.inputs import read_inputs
from dockyard.context import Context, resolve_context
from dockyard.errors import ConfigError, DockyardError, InputError
from dockyard.settings import (
    DEFAULT_CONFIG,
    Overrides,
    Settings,
    default_settings,
    find_config,
    load_settings,
    settings_from_inputs,
)
from dockyard.tagging import RuleSyntaxError

EXIT_OK, EXIT_FAILURE, EXIT_INPUT, EXIT_BUG = 0, 1, 2, 3
ISSUES_URL = "https://github.com/dockyard-ci/dockyard/issues"


class _Output:
    """Where text goes; every line is redacted on its way out."""

    def __init__(self, stdout: TextIO, stderr: TextIO) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.ci = ci_outputs.Reporter()  # masks, sections, annotations, outputs of the CI
        self.printed = False  # the result is on stdout: a failure after it prints no other
        self.recorded = False  # the --output record is written

    def result(self, text: str) -> None:
        self.stdout.write(secrets.redact(text) + "\n")
        self.stdout.flush()
        self.printed = True

    def result_json(self, data: Any) -> None:
        """One JSON object, its strings redacted before it is serialised."""
        self.stdout.write(_json(data) + "\n")
        self.stdout.flush()
        self.printed = True

    def say(self, text: str) -> None:
        self.stderr.write(secrets.redact(text) + "\n")
        self.stderr.flush()


class _UsageError(Exception):
    """A command line argparse refuses: its usage and message, kept for `main` to print."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(f"{parser.prog}: error: {message}")
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse that hands usage errors to `main` (which still answers `--format json`
    with one JSON object) instead of printing them and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dockyard",
        description="Build, tag and push container images from any CI.",
    )
    parser.add_argument("--version", action="version", version=f"dockyard {__version__}")
    parser.add_argument("-C", dest="chdir", metavar="DIR",
                        help="run as if started in DIR (like git -C)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", metavar="PATH",
                         help="config file (default: $DOCKYARD_CONFIG, else ./dockyard.yml)")
        sub.add_argument("--format", choices=("text", "json"), default="text",
                         help="json: one JSON object on stdout, people's text on stderr")

    plan = commands.add_parser(
        "plan", help="compute version, tags and labels (no engine, no network)",
        description="Resolve the git/CI context and compute version, tags and labels.")
    common(plan)
    plan.add_argument("--output", metavar="PATH",
                      help="also write the plan (the JSON result) to PATH, with "
                           "metadata-action's bake definitions beside it")
    plan.add_argument("--dotenv", metavar="PATH",
                      help="also write version and main tag as a dotenv file "
                           "(GitLab's artifacts:reports:dotenv)")
    run = commands.add_parser(
        "run", help="build, tag, push and notify",
        description="Build the image, tag it, push it to every registry, fire webhooks.")
    common(run)
    run.add_argument("--no-push", dest="push", action="store_false", default=None,
                     help="build and tag locally only")
    run.add_argument("--force", action="store_true", default=None,
                     help="rewrite tags the guards would leave alone")
    run.add_argument("--output", metavar="PATH",
                     help="also write the release record (the JSON result) to PATH")
    chatter = run.add_mutually_exclusive_group()
    chatter.add_argument("-q", "--quiet", action="store_true",
                         help="only warnings, errors and the result")
    chatter.add_argument("-v", "--verbose", action="store_true",
                         help="also per-layer push details")
    run.add_argument("--dotenv", metavar="PATH",
                     help="also write version, digest and main tag as a dotenv file "
                          "(GitLab's artifacts:reports:dotenv)")
    check = commands.add_parser(
        "check", help="check engine, config, git context and registry credentials",
        description="Check, without building or pushing, that everything `run` needs is "
                    "in place: one line per check, with the fix when it fails.")
    common(check)
    init = commands.add_parser(
        "init", help="write a commented starter dockyard.yml for this repository",
        description="Look at the repository (Dockerfile, git remote, CI files), write a "
                    "starter dockyard.yml and print the CI snippet to add.")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    commands.add_parser(
        "schema", help="print the JSON Schema of dockyard.yml (for editors)",
        description="Print the JSON Schema that dockyard.yml is validated against.")
    promote = commands.add_parser(
        "promote", help="add tags to an image already in a registry, or copy it to another",
        description="Tag the image at SOURCE (name:tag or name@sha256:...) as each TARGET: a "
                    "tag in the same repository or a full name:tag elsewhere (copied by "
                    "digest, never pulled or rebuilt). Same preflight, order and guards as "
                    "`run`.")
    common(promote)
    promote.add_argument("source", metavar="SOURCE")
    promote.add_argument("targets", metavar="TARGET", nargs="+")
    promote.add_argument("--force", action="store_true", default=None,
                         help="rewrite tags the guards would leave alone")
    merge = commands.add_parser(
        "merge", help="make one multi-platform image from per-platform pushes, tag it",
        description="Assemble an image index from per-platform images (name@sha256:... or a "
                    "digest in the first configured image), push it to every configured "
                    "image and apply this build's tag plan to it.")
    common(merge)
    merge.add_argument("sources", metavar="IMAGE@DIGEST", nargs="+")
    merge.add_argument("--force", action="store_true", default=None,
                       help="rewrite tags the guards would leave alone")
    prune = commands.add_parser(
        "prune", help="delete the tags no retention rule keeps (dry run unless --apply)",
        description="For every configured image on every registry, list the tags that "
                    "retention: in dockyard.yml does not keep, and why (docs/retention.md). "
                    "Release tags are always kept. Nothing is deleted without --apply "
                    "(or DOCKYARD_APPLY=true).")
    common(prune)
    deleting = prune.add_mutually_exclusive_group()
    deleting.add_argument("--apply", action="store_true", default=None,
                          help="delete (default: $DOCKYARD_APPLY, else a dry run)")
    deleting.add_argument("--dry-run", dest="apply", action="store_false",
                          help="list only, whatever $DOCKYARD_APPLY says")
    prune.add_argument("--force", action="store_true", default=None,
                       help="let retention.patterns delete release tags and version lines")
    prune.add_argument("--branches", metavar="LIST",
                       help="the branches that exist, comma-separated (default: "
                            "$DOCKYARD_BRANCHES, else the checkout's branches)")
    prune.add_argument("--open-prs", metavar="LIST",
                       help="the open pull requests' numbers, comma-separated, or `none` "
                            "(default: $DOCKYARD_OPEN_PRS; without, pull request tags are "
                            "kept)")
    prune.add_argument("--output", metavar="PATH",
                       help="also write the record (the JSON result) to PATH")
    prune.add_argument("--dotenv", metavar="PATH",
                       help="also write status and the tags deleted as a dotenv file "
                            "(GitLab's artifacts:reports:dotenv)")
    prune.add_argument("--image", metavar="NAME", action="append", default=[],
                       help="prune only this configured image (repeatable); the others "
                            "keep what it deletes, to restore from")
    return parser


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = _Output(stdout or sys.stdout, stderr or sys.stderr)
    environment = dict(os.environ if env is None else env)
    out.ci = ci_outputs.reporter_for(environment, out.stderr)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed --help or --version
        return int(exc.code or 0)
    except _UsageError as exc:
        return _usage_failed(exc, sys.argv[1:] if argv is None else argv, out)
    try:
        return _dispatch(args, environment, out)
    except DockyardError as exc:
        out.say(f"error: {exc}")
        out.ci.error(exc)
        _failed(args, out, exc.exit_code, str(exc), _problems(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        out.say("interrupted")
        _failed(args, out, 130, "interrupted")
        return 130
    except Exception:  # noqa: BLE001 -- the boundary: anything else is our bug
        import traceback

        out.say(traceback.format_exc().rstrip())
        message = (f"internal error: this is a bug in Dockyard {__version__}. Please report it "
                   f"at {ISSUES_URL} with the lines above.")
        out.say(message)
        _failed(args, out, EXIT_BUG, message)
        return EXIT_BUG


def entry() -> NoReturn:
    """The `dockyard` command (and `python -m dockyard`): `main`, then `end`."""
    end(main())


def end(code: int) -> NoReturn:
    """End the process with `code`, without the interpreter's teardown of every module
    (about 0.1 s once docker-py, requests and GitPython are loaded, at every start).
    What has to happen at the end still does: threads that are not daemons are waited
    for, atexit handlers run (weakref finalizers, logging's shutdown), stdout and
    stderr are flushed. Under a profiler or a coverage tracer, which write their data
    at the interpreter's exit, the process exits as usual."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone, a stream closed
            stream.flush()
    os._exit(code)


def _failed(args: argparse.Namespace, out: _Output, code: int, error: str,
            problems: Sequence[str] = ()) -> None:
    """A command that stopped before its result: still one JSON object on stdout (with
    --format json) and the --output record, saying why."""
    record = {"status": "failed", "exit_code": code, "error": error, "problems": list(problems)}
    if getattr(args, "format", None) == "json" and not out.printed:
        out.result_json(record)
    if getattr(args, "output", None) and not out.recorded:
        try:
            _write_record(Path(args.chdir or Path.cwd()) / args.output, record)
        except DockyardError as exc:
            out.say(f"error: {exc}")


def _usage_failed(exc: _UsageError, argv: Sequence[str], out: _Output) -> int:
    """A command line that does not parse: argparse's usage and message on stderr, and
    with `--format json` among the arguments the failed record on stdout, as for any
    other input error."""
    out.stderr.write(exc.parser.format_usage())
    out.say(str(exc))
    if any(arg == "--format=json" or (arg == "json" and i and argv[i - 1] == "--format")
           for i, arg in enumerate(argv)):
        error = f"{exc.message}; see `{exc.parser.prog} --help`"
        out.result_json({"status": "failed", "exit_code": EXIT_INPUT, "error": error,
                         "problems": [error]})
    return EXIT_INPUT


def _problems(exc: DockyardError) -> list[str]:
    """Each problem of a bad configuration or bad tag rules, as its message lists it."""
    if isinstance(exc, ConfigError):
        return list(exc.problems)
    if isinstance(exc, RuleSyntaxError):
        return [f"[{where}] {message}" for where, message in exc.problems]
    return []


def _dispatch(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    if args.chdir and not Path(args.chdir).is_dir():  # else zero-config builds it by name
        raise InputError(f"-C {args.chdir}: no such directory",
                         hint="give -C the directory that holds dockyard.yml (or the "
                              "Dockerfile)")
    handler = _COMMANDS[args.command]
    return handler(args, env, out)


def _prepare(args: argparse.Namespace, env: Mapping[str, str], out: _Output,
             building: bool = True, planning: bool = False) -> tuple[Settings, Context]:
    """Context and settings for the commands that read dockyard.yml."""
    workdir = Path(args.chdir or Path.cwd()).resolve()
    context = github_api.with_repository(resolve_context(env, workdir), env)
    overrides = Overrides(push=getattr(args, "push", None), force=getattr(args, "force", None),
                          inputs=read_inputs(env, workdir), building=building,
                          secrets_withheld=context.secrets_withheld, planning=planning)
    settings = _settings(args.config, workdir, env, context, overrides, out)
    out.ci.mask(ci_outputs.secret_values(settings))
    for note in (*settings.notes, *context.notes):
        out.say(f"note: {note}")
    return settings, context


def _plan_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    settings, context = _prepare(args, env, out, planning=True)
    from dockyard.backend import choice_for
    from dockyard.plan import make_plan  # no docker-py, no HTTP stack: `plan` stays fast

    plan = make_plan(settings, context)
    if not plan.tags:  # exit 0 all the same: the plan is what was asked for
        from dockyard.emptyplan import why_no_tags

        out.say("warning: {}; {}".format(*why_no_tags(context, plan.skipped)))
    data = plan.to_dict()
    data["backend"] = choice_for(settings.build.buildkit,  # which builder would build, why
                                 settings.build.context / settings.build.dockerfile,
                                 env).to_dict()
    out.ci.publish(data)
    if settings.retention.configured:  # what `dockyard prune` would keep
        data["retention"] = settings.retention.summary()
    workdir = Path(args.chdir or Path.cwd())
    if args.output:
        _write_record(workdir / args.output, data)
        out.recorded = True
        _write_bake(workdir / args.output, data, env)
    if args.dotenv:
        ci_outputs.write_dotenv(workdir / args.dotenv, data)
    _render(data, args.format, out, _plan_text)
    return EXIT_OK


def _run_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    settings, context = _prepare(args, env, out)
    from dockyard import pipeline
    from dockyard.engine import Engine  # imports docker: only when an engine is needed
    from dockyard.progress import NORMAL, QUIET, VERBOSE, Reporter, choose_mode

    verbosity = QUIET if args.quiet else VERBOSE if args.verbose else NORMAL
    reporter = Reporter(out.stderr, mode=choose_mode(env, out.stderr), verbosity=verbosity)
    from dockyard.builders import open_builder  # docker-py, or buildx (build.backend)

    engine, choice = open_builder(settings, env, reporter, Engine.connect)
    try:
        with out.ci.section("dockyard_run", "Build and push " + ", ".join(settings.images)):
            result = pipeline.run(settings, context, engine, log=reporter.info,
                                  section=reporter.section, backend=choice.to_dict())
    finally:
        reporter.close()
        engine.close()
    for warning in result.warnings:
        out.say(f"warning: {warning}")
    record = result.to_dict()
    if args.output:
        _write_record(Path(args.chdir or Path.cwd()) / args.output, record)
        out.recorded = True
        _write_bake(Path(args.chdir or Path.cwd()) / args.output, record, env)
    if args.dotenv:
        ci_outputs.write_dotenv(Path(args.chdir or Path.cwd()) / args.dotenv, record)
    out.ci.publish(record)
    _render(record, args.format, out, _run_text)
    if result.error is not None:
        out.say(f"error: {result.error}")
        out.ci.error(result.error)
    return result.exit_code


Handler = Callable[[argparse.Namespace, dict[str, str], _Output], int]


def _check_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    from dockyard import check
    from dockyard.engine import Engine

    workdir = Path(args.chdir or Path.cwd()).resolve()
    context = resolve_context(env, workdir)
    settings: Settings | DockyardError
    try:
        settings = _settings(args.config, workdir, env, context,
                             Overrides(inputs=read_inputs(env, workdir),
                                       secrets_withheld=context.secrets_withheld), out)
    except InputError as exc:
        settings = exc
    for note in context.notes:
        out.say(f"note: {note}")
    checks = check.run_checks(settings, context, env, Engine.connect)
    if args.format == "json":
        out.result_json({"ok": all(c.ok for c in checks),
                         "checks": [c.to_dict() for c in checks]})
    else:
        out.result(_check_text(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILURE


def _init_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    from dockyard import starter

    workdir = Path(args.chdir or Path.cwd()).resolve()
    target = workdir / DEFAULT_CONFIG
    if target.exists() and not args.force:
        raise InputError(f"{target} exists already; nothing was written",
                         hint="use `dockyard init --force` to overwrite it")
    facts = starter.inspect_repo(workdir, resolve_context(env, workdir))
    target.write_text(starter.render(facts), encoding="utf-8")
    out.say(f"wrote {target} ({starter.describe(facts)}); check it with `dockyard plan`")
    if facts.dockerfile is None:
        out.say("note: no Dockerfile found; write one, or set build.dockerfile")
    out.say("add this to your CI:")
    out.result(starter.ci_snippet(facts))
    return EXIT_OK


def _schema_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    from dockyard.schema import CONFIG_SCHEMA

    out.result_json(CONFIG_SCHEMA)
    return EXIT_OK


def _promote_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    from dockyard import publish

    workdir = Path(args.chdir or Path.cwd()).resolve()
    path = find_config(workdir, args.config, env)
    from dockyard.engine import docker_config_credentials

    overrides = Overrides(force=args.force, building=False, hosts=_promote_hosts(args))
    options = (publish.Options.of(load_settings(path, env, overrides))
               if path else publish.Options(force=bool(args.force)))
    outcome = publish.promote(options, args.source, args.targets, log=out.say,
                              docker_login=docker_config_credentials)
    return _publish_outcome(outcome, args.format, out)


def _promote_hosts(args: argparse.Namespace) -> frozenset[str]:
    """The registry hosts a promote reads and writes: its source's and its full-name
    targets' (a bare tag stays in the source's repository)."""
    from dockyard.names import parse_image

    names = [args.source, *(t for t in args.targets if "/" in t or ":" in t)]
    return frozenset(parse_image(name.split("@", 1)[0]).host for name in names)


def _merge_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    settings, context = _prepare(args, env, out, building=False)
    from dockyard import publish
    from dockyard.plan import make_plan

    plan = make_plan(settings, context)
    from dockyard.engine import docker_config_credentials

    outcome = publish.merge(settings, publish.Release.of(plan), args.sources, log=out.say,
                            docker_login=docker_config_credentials)
    return _publish_outcome(outcome, args.format, out)


def _prune_command(args: argparse.Namespace, env: dict[str, str], out: _Output) -> int:
    from dockyard import prune

    apply = prune.read_apply(env, args.apply)  # a bad DOCKYARD_APPLY before anything is read
    settings, _ = _prepare(args, env, out, building=False)
    if settings.zero_config:  # a local image name: there is no registry to prune
        raise InputError("prune needs a dockyard.yml naming the images (and a retention: "
                         "section); nothing was read or deleted",
                         hint="see docs/retention.md")
    from datetime import datetime, timezone

    from dockyard.engine import docker_config_credentials

    workdir = Path(args.chdir or Path.cwd()).resolve()
    facts, notes = prune.gather_facts(env, workdir, datetime.now(timezone.utc),
                                      branches=args.branches, open_prs=args.open_prs,
                                      force=bool(args.force))
    for note in notes:
        out.say(f"note: {note}")
    apis = prune.hosted_apis(env)
    result = prune.prune(settings, facts, apply=apply, log=out.say,
                         docker_login=docker_config_credentials, apis=apis,
                         only=[name.lower() for name in args.image])
    record = result.to_dict()
    if args.output:
        _write_record(workdir / args.output, record)
        out.recorded = True
    if args.dotenv:
        ci_outputs.write_dotenv(workdir / args.dotenv, record)
    out.ci.publish(record)
    from dockyard.prune.text import prune_text

    _render(record, args.format, out, prune_text)
    return result.exit_code


def _publish_outcome(outcome: Any, fmt: str, out: _Output) -> int:
    _render(outcome.to_dict(), fmt, out, _outcome_text)
    if outcome.error is not None:
        out.say(f"error: {outcome.error}")
    return int(outcome.exit_code)


_COMMANDS: dict[str, Handler] = {
    "promote": _promote_command,
    "merge": _merge_command,
    "prune": _prune_command,
    "plan": _plan_command,
    "run": _run_command,
    "init": _init_command,
    "check": _check_command,
    "schema": _schema_command,
}


def _json(data: Any) -> str:
    return json.dumps(secrets.redact_data(data), indent=2)


def _write_bake(record_path: Path, record: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """metadata-action's bake definitions next to the record (`<stem>.bake.json`...)."""
    from dockyard.ci.metadata_outputs import DEFAULT_BAKE_TARGET, write_bake_files

    target = env.get("DOCKYARD_BAKE_TARGET", "").strip() or DEFAULT_BAKE_TARGET
    write_bake_files(record_path.parent, record_path.stem, record, target)


def _write_record(path: Path, record: Mapping[str, Any]) -> None:
    """The release record as a file (redacted like everything else that leaves)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_json(record) + "\n", encoding="utf-8")
    except OSError as exc:
        raise DockyardError(f"cannot write the record to {path}: {exc.strerror}",
                            hint="check that the directory is writable") from exc


def _settings(config: str | None, workdir: Path, env: Mapping[str, str], context: Context,
              overrides: Overrides, out: _Output) -> Settings:
    path = find_config(workdir, config, env)
    if path is not None:
        return load_settings(path, env, overrides)
    if overrides.inputs.names_images:  # a CI wrapper's inputs are the whole config
        return settings_from_inputs(workdir, env, overrides)
    name = _default_name(workdir)
    out.say(f"no dockyard.yml here: building ./Dockerfile locally as '{name}' and pushing "
            "nothing. To push, write a dockyard.yml with `images: [registry/owner/name]`.")
    return default_settings(workdir, name, env, overrides)


def _default_name(workdir: Path) -> str:
    """A local image name from the directory: lower-case, separators folded to '-'."""
    name = re.sub(r"[^a-z0-9]+", "-", workdir.name.lower()).strip("-")
    return name or "app"


def _render(data: dict[str, Any], fmt: str, out: _Output, text: Any) -> None:
    if fmt == "json":
        out.result_json(data)
    else:
        out.result(text(data))


def _plan_text(data: Mapping[str, Any]) -> str:
    lines = [f"version: {data['version'] or '(none)'}", ""]
    produced = [(e["tag"], e["kind"], e["rule"])
                for e in data["explain"] if e["tag"] is not None]
    lines += _table(("TAG", "KIND", "RULE"), produced) if produced else ["no tags"]
    skipped = [(e["rule"], e["reason"]) for e in data["explain"] if e["tag"] is None]
    if skipped:
        lines += ["", "rules that produced nothing:"]
        lines += _table(("RULE", "REASON"), skipped)
    lines += ["", "references:"] + [f"  {ref}" for ref in data["tags"]]
    lines += ["", "labels:"] + [f"  {k}={v}" for k, v in data["labels"].items()]
    if data.get("retention"):
        lines += ["", "retention (dockyard prune):"] + [f"  {r}" for r in data["retention"]]
    if data.get("backend"):
        backend = data["backend"]
        missing = "" if backend["buildx_found"] else " -- docker buildx is not installed here"
        lines += ["", f"backend: {backend['why']}{missing}"]
    return "\n".join(lines)


def _registry_lines(registries: Sequence[Mapping[str, Any]]) -> list[str]:
    """What landed where: per registry, each tag written, left, forced or put back."""
    lines = []
    for registry in registries:
        status = registry["status"]
        if status == "pushed" and not registry["pushed"]:  # every tag there, or held back
            status = "holds"
        lines.append(f"{registry['name']}: {status}"
                     + (f" {registry['digest']}" if registry["digest"] else "")
                     + (", nothing written" if status == "holds" else ""))
        lines += [f"  pushed  {tag}" for tag in registry["pushed"]]
        lines += [f"  skipped {s['tag']}: {s['reason']}" for s in registry["skipped"]]
        lines += [f"  forced  {f['tag']}: --force overrode {f['overrode']}"
                  for f in registry.get("forced", ())]
        lines += [f"  note    {n['tag']}: {n['note']}" for n in registry.get("notes", ())]
        lines += [f"  {'restored' if r['ok'] else 'LEFT    '} {r['tag']}: {r['detail']}"
                  for r in registry.get("restored", ())]
    return lines


def _outcome_text(data: Mapping[str, Any]) -> str:
    return "\n".join([*_registry_lines(data["registries"]), f"status: {data['status']}"])


def _check_text(checks: Sequence[Any]) -> str:
    lines = []
    for check in checks:
        mark = "FAIL" if not check.ok else "warn" if check.warning else "ok  "
        lines.append(f"{mark} {check.name}: {check.detail}")
        if (not check.ok or check.warning) and check.fix:
            lines.append(f"     fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    warned = sum(c.ok and c.warning for c in checks)
    lines.append(("all checks passed" if not failed else f"{failed} check(s) failed")
                 + (f", {warned} warning(s)" if warned else ""))
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows under a header, each column as wide as its widest cell but the last."""
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return lines


def _run_text(data: Mapping[str, Any]) -> str:
    lines = [_plan_text(data), "", f"image: {data['image_id'] or '(not built)'}"]
    if data.get("built_image_id") and data["built_image_id"] != data["image_id"]:
        lines.append(f"built: {data['built_image_id']} (not pushed: the release was "
                     "published before, as the image above)")
    lines += _registry_lines(data["registries"])
    for delivery in data["webhooks"]:
        lines.append(f"webhook {delivery['host']}: {delivery['status']} "
                     f"after {delivery['attempts']} attempt(s)")
    lines.append(f"status: {data['status']}")
    return "\n".join(lines)
