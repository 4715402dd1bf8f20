"""``alpr`` commands that account for the program: the audit trail (P14, P15, P23), vendor
audits, the daily aggregates and the annual report (P26), breach notices (P27)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streams.cli.common import Subparsers, _day, _needs, _now, _when, register_commands
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.access.audit_tools import VerifyResult


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """P14: the chains, held to the signed checkpoints and to the digests published earlier."""
    from streams.access.audit_tools import format_verify, published_digests, verify
    from streams.errors import ConfigError

    published = []
    for given in args.published:
        found = published_digests(given)
        if not found:
            raise ConfigError(f"--published {given!r} is not a sha256 digest (64 hexadecimal digits)")
        published += found
    if args.published_file:
        try:
            text = Path(args.published_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--published-file {args.published_file}: {exc.strerror}") from exc
        found = published_digests(text)
        if not found:
            raise ConfigError(
                f"--published-file {args.published_file} holds no sha256 digest (64 hex digits)"
            )
        published += found
    result = asyncio.run(verify(args.signed_in, settings, _now(), published))
    for line in format_verify(result):
        print(line)
    return 0 if result.intact else 1


def _audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit_tools import run_checkpoint

    return asyncio.run(run_checkpoint(settings, args.signed_in, args.public_key))


def _warn_if_broken(trail: VerifyResult) -> None:
    if not trail.intact:
        print(
            f"WARNING: the audit trail does not verify ({len(trail.problems)} broken links, first at "
            f"partition {trail.problems[0].partition} offset {trail.problems[0].offset}); the records "
            "they name are left out: run 'alpr audit verify'"
        )


def _audit_report(settings: Settings, args: argparse.Namespace) -> int:
    from streams.access.audit_tools import report

    start, end = _when(args.start, "--from"), _when(args.end, "--to")
    made = asyncio.run(report(args.signed_in, settings, start, end, _now()))
    _warn_if_broken(made.trail)
    for line in made.lines():
        print(line)
    return 0


def _audit_sample(settings: Settings, args: argparse.Namespace) -> int:
    """P23: it prints what was searched (plates); the use case audits the sample with the auditor."""
    from streams.access.audit_tools import sample

    drawn = asyncio.run(sample(args.signed_in, settings, args.n, args.months, args.seed, _now()))
    _warn_if_broken(drawn.trail)
    for line in drawn.lines():
        print(line)
    return 0


def _audit_vendor(settings: Settings, args: argparse.Namespace) -> int:
    """A vendor's export names searches (plates, cases): reading it is an access, audited (P15)."""
    from streams.access.audit import record_access
    from streams.access.vendor import run_vendor_audit

    status = run_vendor_audit(
        args.format,
        Path(args.file),
        Path(args.sharing) if args.sharing else None,
        sample=args.sample,
        seed=args.seed,
        out=Path(args.out) if args.out else None,
        profile=settings.profile,
    )
    query = {"format": args.format, "export": Path(args.file).name, "sample": args.sample, "seed": args.seed}
    record = args.signed_in.audit(_now(), "audit_vendor", query, 0, purpose="audit")
    asyncio.run(record_access(settings, record))
    return status


def _breach_notice(settings: Settings, args: argparse.Namespace) -> int:
    """P27: the breach notice with the parking policy's fields; an incomplete incident writes nothing."""
    from streams.reports.breach import council_memo_reminder, write_notice

    out = Path(args.out) if args.out else None
    text, incident = write_notice(Path(args.incident), out, args.format, settings.profile, _now().date())
    if out is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {out}")
    print(council_memo_reminder(incident), file=sys.stderr)
    return 0


def _aggregate(settings: Settings, args: argparse.Namespace) -> int:
    """P26 over P11: the daily counts (no plates) that outlive the reads, recomputed by whole days."""
    from streams.hotlists.feeder import parse_duration
    from streams.reports.aggregates import aggregate, keep_aggregating

    late = parse_duration(args.late)
    if args.every:
        asyncio.run(keep_aggregating(settings, parse_duration(args.every), _now, late))
        return 0
    day = _day(args.day, "--day") if args.day else None
    through = _day(args.through, "--through") if args.through else None
    asyncio.run(aggregate(settings, _now(), day=day, through=through, late=late))
    return 0


def _report_annual(settings: Settings, args: argparse.Namespace) -> int:
    """P26: the Annual Data Usage Report from the aggregates, the audit trail and the registries."""
    from streams.reports.annual import run_annual

    return asyncio.run(run_annual(settings, args.year, Path(args.out) if args.out else None, _now()))


def _add_audit(sub: Subparsers) -> None:
    p = sub.add_parser(
        "audit", help="the audit trail: verify, checkpoint, report, sample (P14, P15, P23); vendor audits"
    )
    aud = p.add_subparsers(dest="action", required=True)
    a = aud.add_parser(
        "verify",
        help="check the audit trail's hash chains against its signed checkpoints; name the first broken link",
    )
    a.add_argument(
        "--published",
        action="append",
        default=[],
        metavar="DIGEST",
        help="a checkpoint digest published earlier (transparency page, annual report) that the "
        "trail must still hold; repeatable",
    )
    a.add_argument(
        "--published-file", help="a file of published digests (any text; every sha256 digest in it counts)"
    )
    _needs(a, "audit.read")
    a.set_defaults(func=_audit_verify)
    a = aud.add_parser(
        "checkpoint",
        help="sign the audit trail's head now with the key kept outside Kafka (P14)",
        description="Sign each audit partition's first and newest record (offset, hash, time) with the "
        "Ed25519 key in ALPR_AUDIT_SIGNING_KEY_FILE or the state directory's audit-signing.key "
        "(created 0600 on first use), write it to the audit-checkpoints topic and print the digest "
        "to publish. The worker signs one every ALPR_AUDIT_CHECKPOINT_S (default 1 h); a cron job "
        "can run this as a reporting service account.",
    )
    a.add_argument(
        "--public-key", action="store_true", help="print the signing key's public half (to publish) and exit"
    )
    _needs(a, "audit.checkpoint")
    a.set_defaults(func=_audit_checkpoint)
    a = aud.add_parser("report", help="access by user, agency, purpose over a period")
    a.add_argument("--from", dest="start", required=True, help="RFC 3339 time or now-30d")
    a.add_argument("--to", dest="end", default="now", help="RFC 3339 time or now-1d (default now)")
    _needs(a, "audit.read")
    a.set_defaults(func=_audit_report)
    a = aud.add_parser("sample", help="a random sample of searches for the periodic audit (P23)")
    a.add_argument("--n", type=int, default=10, help="how many searches to draw (default 10)")
    a.add_argument("--months", type=int, default=6, help="draw from the last this many months (default 6)")
    a.add_argument("--seed", type=int, default=None, help="for a reproducible sample")
    _needs(a, "audit.read")
    a.set_defaults(func=_audit_sample)
    a = aud.add_parser("vendor", help="audit a vendor's search-history export (Flock)")
    a.add_argument("--format", choices=["flock"], required=True, help="the vendor's export format")
    a.add_argument("file", help="the search-audit export (CSV)")
    a.add_argument("--sharing", help="the sharing-agencies export (CSV)")
    a.add_argument("--sample", type=int, default=10, help="size of the P23 random sample")
    a.add_argument("--seed", type=int, default=None, help="for a reproducible sample")
    a.add_argument("--out", help="also write the report (Markdown) and the offending rows (CSV) here")
    _needs(a, "audit.read")
    a.set_defaults(func=_audit_vendor)


def _add_aggregate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "aggregate",
        help="daily counts without plates for the annual report (P26), kept after reads expire (P11)",
        description="Recompute whole closed UTC days from the reads, alerts and audit topics and write "
        "their counts to the aggregates topic (re-running writes the same records). Without --day or "
        "--through: every closed day within the read retention not aggregated yet. Run it daily.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", help="recompute this UTC day (YYYY-MM-DD)")
    when.add_argument("--through", help="recompute every day within the read retention up to this one")
    when.add_argument("--every", help="keep running: aggregate the missing days at this interval, e.g. 24h")
    p.add_argument(
        "--late", default="6h", help="uploads up to this long after a day's end count in it (default 6h)"
    )
    _needs(p, "report.publish")
    p.set_defaults(func=_aggregate)


def _add_report(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="reports the program owes the public (P26)")
    rep = p.add_subparsers(dest="action", required=True)
    r = rep.add_parser(
        "annual",
        help="the Annual Data Usage Report: reads and hits by location, records accessed, accuracy",
    )
    r.add_argument("--year", type=int, required=True, help="the calendar year reported, e.g. 2026")
    r.add_argument("--out", help="output folder (default ./annual-report-YYYY)")
    _needs(r, "report.publish")
    r.set_defaults(func=_report_annual)


def _add_breach(sub: Subparsers) -> None:
    p = sub.add_parser("breach", help="data breach notification (P27)")
    br = p.add_subparsers(dest="action", required=True)
    b = br.add_parser(
        "notice",
        help="the 'Notification of Data Breach' text from an incident description (TOML)",
        description="Write the notice with every field of the parking policy's DATA BREACH NOTIFICATION "
        "REQUIREMENTS, from an incident file like samples/breach-incident.toml. An incomplete or "
        "inconsistent incident is refused (exit 2) naming each problem, and nothing is written.",
    )
    b.add_argument("--incident", required=True, help="the incident description (TOML)")
    b.add_argument("--out", help="write the notice here instead of standard output")
    b.add_argument(
        "--format", choices=["md", "txt"], default="md", help="Markdown or plain text (default md)"
    )
    # no sign-in: it formats a document from a file and reads no ALPR data
    b.set_defaults(func=_breach_notice)


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "audit": _add_audit,
    "aggregate": _add_aggregate,
    "report": _add_report,
    "breach": _add_breach,
}


def register(sub: Subparsers, *names: str) -> None:
    """Add the commands named (all of this module's by default), in the order given: `alpr --help`
    lists the commands in the order build_parser registers them."""
    register_commands(sub, _COMMANDS, names)
