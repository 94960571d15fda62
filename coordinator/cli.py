"""``tapfleet coordinator`` and ``tapfleet broker-config``: run the service, render broker files.

Heavy imports happen inside the command functions, never at import time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def register(subparsers: Any) -> None:
    """Add the coordinator's subcommands to the ``tapfleet`` parser."""
    run = subparsers.add_parser(
        "coordinator",
        help="run the coordinator (HTTP API + MQTT ingest)",
        description="Run the Tapfleet coordinator. Settings, highest first: these flags, "
        "TAPFLEET_COORD_* environment variables, --config (TOML), the defaults. A bad "
        "setting is one line on stderr and exit status 2.",
    )
    run.add_argument("--config", type=Path, help="TOML file with CoordinatorSettings fields")
    run.add_argument("--db", help="database URL (sqlite:///path or postgresql+psycopg://...)")
    run.add_argument("--db-schema", help="PostgreSQL schema to use")
    run.add_argument("--mqtt", type=_host_port, help="broker HOST:PORT")
    run.add_argument("--mqtt-user", help="broker username")
    run.add_argument("--mqtt-password", help="broker password")
    run.add_argument("--client-id", help="MQTT client id of this replica (stable!)")
    run.add_argument("--http", type=_host_port, help="HTTP listen HOST:PORT")
    run.add_argument("--dev", action="store_true", help="developer mode (default secrets allowed)")
    run.add_argument("--no-mqtt", action="store_true", help="serve the API without the broker")
    run.set_defaults(func=_run)
    actions = run.add_subparsers(dest="coordinator_action", metavar="ACTION")
    backup = actions.add_parser(
        "backup",
        help="take, verify and keep one online backup of the SQLite database now",
        description="Copy the coordinator's SQLite database online (VACUUM INTO, the "
        "coordinator may be running), verify the copy, keep the newest --keep backups in "
        "--out and record the time as the last verified backup (kiosks keep acknowledged "
        "journal rows younger than that). PostgreSQL: use pg_dump (docs/reliability.md).",
    )
    backup.add_argument("--config", type=Path, help="TOML file with CoordinatorSettings fields")
    backup.add_argument("--db", help="database URL (sqlite:///path)")
    backup.add_argument("--out", type=Path, help="backup folder (default: backup_dir)")
    backup.add_argument("--keep", type=int, help="backups to keep (default: backup_keep)")
    backup.set_defaults(func=_backup)
    restore = actions.add_parser(
        "restore",
        help="restore the database from a backup (the coordinator stopped)",
        description="Put a verified backup in place of the SQLite database (the replaced "
        "file is kept beside it), then bump the restore epoch: at its next start the "
        "coordinator asks every kiosk to resend from its journal what the backup lacks. "
        "After pg_restore of a PostgreSQL database, run with --after-pg-restore instead.",
    )
    restore.add_argument("--config", type=Path, help="TOML file with CoordinatorSettings fields")
    restore.add_argument("--db", help="database URL (sqlite:///path or postgresql+psycopg://...)")
    restore.add_argument("--db-schema", help="PostgreSQL schema to use")
    source = restore.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", type=Path, help="the backup file to restore")
    source.add_argument(
        "--after-pg-restore",
        action="store_true",
        help="the database was restored with pg_restore: only bump the restore epoch",
    )
    restore.set_defaults(func=_restore)

    broker = subparsers.add_parser(
        "broker-config",
        help="render the Mosquitto config (and kiosk passwords/ACL) from the ledger",
    )
    broker.add_argument("--out", type=Path, required=True, help="directory to write into")
    broker.add_argument("--port", type=int, default=1883)
    broker.add_argument("--bind", default="0.0.0.0")
    broker.add_argument("--db", help="ledger URL to read provisioned kiosks from (enables auth)")
    broker.add_argument("--coordinator-user", default="coordinator")
    broker.add_argument(
        "--coordinator-password",
        help="password of the coordinator's broker user (with --db; kept in the "
        "coordinator-users file, so later runs may omit it)",
    )
    broker.add_argument("--run-as", default="mosquitto", help="user mosquitto drops to")
    tls = broker.add_argument_group("TLS listener (in addition to --port)")
    tls.add_argument("--tls-port", type=int, help="port of the TLS listener (usually 8883)")
    tls.add_argument("--tls-bind", default="0.0.0.0", help="address of the TLS listener")
    tls.add_argument("--cafile", type=Path, help="CA certificate (PEM) of the broker certificate")
    tls.add_argument("--certfile", type=Path, help="broker certificate (PEM)")
    tls.add_argument("--keyfile", type=Path, help="broker private key (PEM)")
    tls.add_argument(
        "--require-certificate",
        action="store_true",
        help="mutual TLS: clients need a certificate signed by --cafile",
    )
    bridge = broker.add_argument_group(
        "bridge (a store or region broker linked to the central broker; see docs/deployment.md)"
    )
    bridge.add_argument(
        "--bridge-to",
        type=_host_port,
        action="append",
        help="central broker HOST:PORT (repeat for a cluster)",
    )
    bridge.add_argument(
        "--bridge-store", action="append", help="a store whose kiosks use this broker (repeat)"
    )
    bridge.add_argument("--bridge-user", help="the bridge's user on the central broker")
    bridge.add_argument("--bridge-password", help="its password")
    bridge.add_argument("--bridge-cafile", type=Path, help="CA of the central broker (TLS)")
    broker.set_defaults(func=_broker_config)

    report = subparsers.add_parser(
        "report",
        help="print a store-owner report table as CSV, from the coordinator's database",
        description="Build the same report the dashboard and GET /api/v1/reports show (one "
        "store or the chain, store-local dates) and print one table as CSV, or list the "
        "tables. Reads the database only; the coordinator may be running.",
    )
    report.add_argument("--config", type=Path, help="TOML file with CoordinatorSettings fields")
    report.add_argument("--db", help="database URL (sqlite:///path or postgresql+psycopg://...)")
    report.add_argument("--db-schema", help="PostgreSQL schema to use")
    report.add_argument("--store", help="one store's report (default: the whole chain)")
    report.add_argument("--from", dest="first", help="first store-local day, YYYY-MM-DD")
    report.add_argument("--to", dest="last", help="last store-local day, YYYY-MM-DD")
    report.add_argument("--lang", choices=("zh", "en"), default="zh")
    report.add_argument("--table", help="the table to print (omit to list the tables)")
    report.set_defaults(func=_report)


def _run(args: argparse.Namespace) -> int:
    import logging
    import sys

    from coordinator.settings import SettingsError, load_settings

    overrides: dict[str, Any] = {
        "database_url": args.db,
        "database_schema": args.db_schema,
        "mqtt_username": args.mqtt_user,
        "mqtt_password": args.mqtt_password,
        "mqtt_client_id": args.client_id,
    }
    if args.mqtt:
        overrides["mqtt_host"], overrides["mqtt_port"] = args.mqtt
    if args.http:
        overrides["http_host"], overrides["http_port"] = args.http
    if args.dev:
        overrides["dev_mode"] = True
    if args.no_mqtt:
        overrides["mqtt_enabled"] = False
    try:
        settings = load_settings(args.config, **overrides)
    except SettingsError as exc:
        print(f"tapfleet coordinator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvicorn

    from coordinator.app import create_app
    from coordinator.errors import CoordinatorError

    try:
        app = create_app(settings)
    except CoordinatorError as exc:
        print(f"tapfleet coordinator: {exc}", file=sys.stderr)
        return 1
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    """``tapfleet report``: the reports service with the rights of an HQ admin."""
    import getpass
    import sys
    from datetime import date

    from coordinator.settings import SettingsError, load_settings

    try:
        settings = load_settings(
            args.config,
            database_url=args.db,
            database_schema=args.db_schema,
            mqtt_enabled=False,
            dev_mode=True,  # reads only: the secrets of a server are not needed here
        )
        first = date.fromisoformat(args.first) if args.first else None
        last = date.fromisoformat(args.last) if args.last else None
    except (SettingsError, ValueError) as exc:
        print(f"tapfleet report: {exc}", file=sys.stderr)
        return 2
    import sqlalchemy as sa

    from coordinator.errors import ApiError
    from coordinator.runtime import Coordinator
    from coordinator.security.auth import Principal, Role
    from coordinator.services import reports

    coord = Coordinator(settings)
    principal = Principal(f"cli:{getpass.getuser()}", Role.HQ_ADMIN, None)
    try:
        if not sa.inspect(coord.db.engine).has_table("events", schema=settings.database_schema):
            print(
                f"tapfleet report: {settings.database_url} holds no coordinator ledger "
                "(check --db; a coordinator creates its tables when it first starts)",
                file=sys.stderr,
            )
            return 2
        built = reports.build(
            coord, principal, store_id=args.store, first=first, last=last, lang=args.lang
        )
        if args.table is None:
            for section in built.sections:
                for table in section.tables:
                    print(f"{table.name}\t{table.title}\t{len(table.rows)} rows")
            return 0
        sys.stdout.write(reports.table(built, args.table).csv())
        return 0
    except ApiError as exc:
        print(f"tapfleet report: {exc.message}", file=sys.stderr)
        return 1
    finally:
        coord.db.dispose()


def _broker_config(args: argparse.Namespace) -> int:
    from coordinator.mqtt.broker_config import (
        COORDINATOR_USERS,
        BrokerAuth,
        BrokerBridge,
        BrokerTls,
        mosquitto_password_hash,
        read_password_file,
        write_broker_files,
    )

    tls = None
    if args.tls_port is not None:
        if not (args.cafile and args.certfile and args.keyfile):
            raise SystemExit("--tls-port needs --cafile, --certfile and --keyfile")
        tls = BrokerTls(
            port=args.tls_port,
            bind=args.tls_bind,
            cafile=args.cafile.resolve(),
            certfile=args.certfile.resolve(),
            keyfile=args.keyfile.resolve(),
            require_certificate=args.require_certificate,
        )
    auth = None
    if args.db:
        import sqlalchemy as sa

        from coordinator import schema
        from coordinator.db import Database

        coordinators = read_password_file(args.out / COORDINATOR_USERS)
        if args.coordinator_password:
            coordinators[args.coordinator_user] = mosquitto_password_hash(args.coordinator_password)
        if not coordinators:
            raise SystemExit(
                "--coordinator-password is required with --db (there is no "
                f"{args.out / COORDINATOR_USERS} yet)"
            )
        db = Database(args.db)
        with db.read() as conn:
            rows = conn.execute(
                sa.select(
                    schema.kiosks.c.kiosk_id,
                    schema.kiosks.c.store_id,
                    schema.kiosks.c.mqtt_password_hash,
                ).where(schema.kiosks.c.revoked.is_(False))
            ).all()
        db.dispose()
        kiosks = [r for r in rows if r.mqtt_password_hash and r.kiosk_id not in coordinators]
        if args.bridge_store:  # a store broker knows only its stores' kiosks
            kiosks = [r for r in kiosks if r.store_id in args.bridge_store]
        hashes = {r.kiosk_id: r.mqtt_password_hash for r in kiosks}
        hashes.update(coordinators)
        auth = BrokerAuth(
            password_hashes=hashes,
            kiosks=[(r.kiosk_id, r.store_id) for r in kiosks],
            coordinators=sorted(coordinators),
        )
    bridges = []
    if args.bridge_to:
        if not args.bridge_store:
            raise SystemExit("--bridge-to needs at least one --bridge-store")
        bridges.append(
            BrokerBridge(
                name="-".join(["store", *args.bridge_store])[:60],
                central=args.bridge_to,
                store_ids=args.bridge_store,
                kiosk_ids=[k for k, _ in auth.kiosks] if auth is not None else None,
                username=args.bridge_user,
                password=args.bridge_password,
                cafile=args.bridge_cafile.resolve() if args.bridge_cafile else None,
            )
        )
    conf = write_broker_files(
        args.out,
        port=args.port,
        bind=args.bind,
        auth=auth,
        run_as=args.run_as,
        tls=tls,
        bridges=bridges,
    )
    print(conf)
    return 0


def _backup(args: argparse.Namespace) -> int:
    """``tapfleet coordinator backup``."""
    import logging
    import sys

    from coordinator import backups
    from coordinator.db import Database
    from coordinator.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.config, database_url=args.db, dev_mode=True)
    except SettingsError as exc:
        print(f"tapfleet coordinator backup: {exc}", file=sys.stderr)
        return 2
    out = args.out or settings.backup_dir
    if out is None:
        print("tapfleet coordinator backup: give --out (or set backup_dir)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    db = Database(settings.database_url)
    try:
        info = backups.backup_sqlite(
            db, out, now_ms=backups.now_ms(), keep=args.keep or settings.backup_keep
        )
    except backups.BackupError as exc:
        print(f"tapfleet coordinator backup: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"backup {info.path}: {info.events} events, {info.size_bytes} bytes, verified")
    return 0


def _restore(args: argparse.Namespace) -> int:
    """``tapfleet coordinator restore``."""
    import logging
    import sys

    from coordinator import backups
    from coordinator.db import Database
    from coordinator.settings import SettingsError, load_settings

    try:
        settings = load_settings(
            args.config, database_url=args.db, database_schema=args.db_schema, dev_mode=True
        )
    except SettingsError as exc:
        print(f"tapfleet coordinator restore: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    now = backups.now_ms()
    db = Database(settings.database_url, schema_name=settings.database_schema)
    try:
        if args.source is not None:
            target = backups.sqlite_path(db)
            db.dispose()
            aside = backups.restore_sqlite(target, args.source, now_ms=now)
            print(f"restored {target} from {args.source}; the replaced database is {aside}")
            db = Database(settings.database_url)
        elif db.is_sqlite:
            print(
                "tapfleet coordinator restore: --after-pg-restore is for PostgreSQL",
                file=sys.stderr,
            )
            return 2
        epoch = backups.mark_restored(db, now_ms=now)
    except backups.BackupError as exc:
        print(f"tapfleet coordinator restore: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(
        f"restore epoch {epoch}: start the coordinator; it asks every kiosk to resend what "
        "this backup lacks"
    )
    return 0
