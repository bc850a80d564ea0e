"""Loading and validating the TOML configuration into frozen dataclasses; `${VAR}` expansion.

Every error names the file, the key and what is allowed. Reads one file; nothing else.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import sources as sources_registry
from .durations import parse_duration
from .errors import ConfigError, UnknownKindError
from .evidence import Authority
from .targets import Target, is_valid_id

log = logging.getLogger(__name__)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG = Path("config/watcher.toml")
DEFAULT_DATABASE_URL = "sqlite:///watcher.db"
NOTICE_KINDS = ("release", "corroboration", "mentioned", "withdrawn", "discovered", "source_health", "test")
ALERT_ON = ("confirmed", "mentioned")
CHANNEL_TIMEOUT = 10.0  # seconds, the default total deadline of one send
# No send may outlast this: the outbox's claim on a notice (notify.CLAIM_TTL, 120 s) must outlive any
# send, or a second dispatcher could take the notice over while the first is still sending it.
CHANNEL_DEADLINE_MAX = 30.0

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MIN_EVERY = 1.0  # seconds: a source probed faster than this is hammered, not watched
MAX_NAME = 100  # characters of a source or channel name (the database keeps 200; `name/target` needs room)

_SQLITE_FILE = re.compile(r"^(sqlite(?:\+\w+)?:///)(?!/|:memory:|file:)([^?]+)(.*)$")


def resolve_sqlite(url: str, folder: Path) -> str:
    """A relative SQLite file (sqlite:///watcher.db) is in the config file's folder, as templates_dir is:
    every command finds the same database from any working directory (a systemd unit needs none)."""
    m = _SQLITE_FILE.match(url)
    if not m:
        return url
    return f"{m.group(1)}{(folder.resolve() / m.group(2)).as_posix()}{m.group(3)}"


_BARE_VAR = re.compile(r"(?<![$\w])\$([A-Za-z_][A-Za-z0-9_]*)")


def bare_vars(value: str, env: Mapping[str, str]) -> list[str]:
    """Names written `$VAR` (no braces) that are set in the environment: almost surely meant as `${VAR}`,
    which is the only form expanded (a literal `$` in a header stays possible)."""
    return [n for n in _BARE_VAR.findall(value.replace("$$", "")) if env.get(n)]


def expand(value: str, env: Mapping[str, str]) -> tuple[str, list[str], list[str]]:
    """Replace `${VAR}` from the environment. Returns (text, missing names, secret values used)."""
    missing: list[str] = []
    used: list[str] = []

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name not in env or env[name] == "":
            missing.append(name)
            return ""
        used.append(env[name])
        return env[name]

    return _VAR.sub(repl, value), missing, used


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    url: str  # expanded: what is fetched; may hold a secret, never stored or printed
    url_display: str  # as written, `${VAR}` unexpanded: what is stored and printed
    authority: Authority
    every: float = 900.0
    headers: Mapping[str, str] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    timeout: float = 20.0
    deadline: float = 60.0
    max_bytes: int = 20 * 1024 * 1024
    target: str | None = None  # set when the URL names `{target}`: the source is about this one
    missing_env: tuple[str, ...] = ()  # unset variables: the source is not_configured
    options: tuple[tuple[str, object], ...] = ()  # the kind's own keys (its `Kind.options`), checked

    def option(self, name: str, default: object = None) -> object:
        return next((v for k, v in self.options if k == name), default)

    @property
    def configured(self) -> bool:
        return not self.missing_env

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    kinds: tuple[str, ...]
    targets: tuple[str, ...]  # empty: every target
    settings: Mapping[str, Any]  # expanded, type-specific keys
    missing_env: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        return not self.missing_env

    @property
    def deadline(self) -> float:
        """Seconds one send may take in all (connect, TLS, request, a trickled answer): the `timeout`."""
        return min(float(self.settings.get("timeout", CHANNEL_TIMEOUT)), CHANNEL_DEADLINE_MAX)


@dataclass(frozen=True)
class Config:
    path: Path
    database_url: str
    targets: tuple[Target, ...]
    sources: tuple[SourceConfig, ...]
    channels: tuple[ChannelConfig, ...] = ()
    alert_on: tuple[str, ...] = ("confirmed",)
    failure_threshold: int = 3
    templates_dir: Path | None = None
    jitter: float = 0.1
    secrets: frozenset[str] = frozenset()

    @property
    def target_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.targets if t.id)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        from .errors import UnknownNameError

        raise UnknownNameError(f"unknown source {name!r}; configured: {', '.join(x.name for x in self.sources)}")


# Keys each table accepts; anything else is rejected by name.
_TOP_KEYS = {"database_url", "targets", "sources", "channels", "defaults", "alert_on", "failure_threshold",
             "templates_dir", "jitter"}
_DEFAULT_KEYS = {"every", "timeout", "deadline", "max_bytes"}
_TARGET_KEYS = {"id", "family"}
_SOURCE_KEYS = {"name", "kind", "url", "authority", "every", "headers", "allowed_hosts", "timeout", "deadline",
                "max_bytes", "enabled"}
_CHANNEL_COMMON = {"name", "type", "kinds", "targets", "enabled", "corroboration"}


def channel_types() -> dict[str, Any]:
    """The channel types' declarations (notify/registry.py), read when a config has channels: the
    configuration never spells a channel type's keys itself."""
    from .notify.registry import TYPES

    return TYPES


class _Loader:
    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.secrets: set[str] = set()

    def fail(self, key: str | None, message: str) -> ConfigError:
        return ConfigError(self.path, key, message)

    def warn_bare(self, key: str, value: object) -> None:
        if isinstance(value, str):
            for name in bare_vars(value, self.env):
                log.warning("%s: %s: $%s is not expanded; write ${%s} to use the environment variable",
                            self.path, key, name, name)

    def check_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(f"{where}.{key}" if where else key,
                                f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def string(self, table: Mapping[str, Any], key: str, where: str, *, required: bool = False,
               default: str | None = None) -> str | None:
        if key not in table:
            if required:
                raise self.fail(f"{where}.{key}", "is required")
            return default
        value = table[key]
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{where}.{key}", "must be a non-empty string")
        return value

    def duration(self, table: Mapping[str, Any], key: str, where: str, default: float, *,
                 minimum: float = 0.0) -> float:
        if key not in table:
            return default
        name = f"{where}.{key}" if where else key
        try:
            seconds = parse_duration(table[key])
        except ValueError as exc:
            raise self.fail(name, f"{table[key]!r} is not a usable duration ({exc}); use e.g. 30s, 15m, 2h, 1d "
                                  "(at most a year)") from None
        if seconds < minimum:
            raise self.fail(name, f"{table[key]!r} is below the floor of {minimum:g} s; probing faster "
                                  "hammers the server without seeing a release any sooner")
        return seconds

    def name(self, table: Mapping[str, Any], where: str) -> str:
        name = self.string(table, "name", where, required=True)
        assert name is not None
        if len(name) > MAX_NAME:
            raise self.fail(f"{where}.name", f"is {len(name)} characters long; at most {MAX_NAME}")
        return name

    def expand_all(self, value: Any) -> tuple[Any, list[str]]:
        """Expand `${VAR}` in every string inside value; returns (expanded, missing names)."""
        missing: list[str] = []
        if isinstance(value, str):
            text, miss, used = expand(value, self.env)
            missing += miss
            self.secrets.update(u for u in used if len(u) >= 4)
            return text, missing
        if isinstance(value, list):
            out = []
            for item in value:
                x, miss = self.expand_all(item)
                out.append(x)
                missing += miss
            return out, missing
        if isinstance(value, dict):
            d = {}
            for k, item in value.items():
                x, miss = self.expand_all(item)
                d[k] = x
                missing += miss
            return d, missing
        return value, missing


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a configuration file. Raises ConfigError naming file and key."""
    env = os.environ if env is None else env
    path = Path(path or env.get("WATCHER_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found (pass --config PATH or set WATCHER_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from None
    return parse_config(raw, path, env)


def parse_config(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Config:
    ld = _Loader(path, env)
    ld.check_keys(raw, _TOP_KEYS, "")

    db_raw = env.get("WATCHER_DATABASE_URL") or ld.string(raw, "database_url", "", default=DEFAULT_DATABASE_URL)
    database_url, missing, _ = expand(db_raw or DEFAULT_DATABASE_URL, env)
    password = urlsplit(database_url).password if "://" in database_url else None
    if password and len(password) >= 4:
        ld.secrets.update({password, unquote(password)})  # a secret like any other (its host is not)
    if missing:
        raise ld.fail("database_url", f"environment variable {', '.join(missing)} is not set")
    if "://" not in database_url:
        raise ld.fail("database_url", "must be a SQLAlchemy URL such as sqlite:///watcher.db "
                                      "or postgresql+psycopg://user@host/db")
    if not env.get("WATCHER_DATABASE_URL"):
        database_url = resolve_sqlite(database_url, path.parent)

    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ld.fail("defaults", "must be a table")
    ld.check_keys(defaults, _DEFAULT_KEYS, "defaults")
    d_every = ld.duration(defaults, "every", "defaults", 900.0, minimum=MIN_EVERY)
    d_timeout = ld.duration(defaults, "timeout", "defaults", 20.0)
    d_deadline = ld.duration(defaults, "deadline", "defaults", 60.0)
    d_max = _int(ld, defaults, "max_bytes", "defaults", 20 * 1024 * 1024, minimum=1024)

    targets = _targets(ld, raw.get("targets"))
    target_ids = [t.id for t in targets if t.id]

    sources_raw = raw.get("sources", [])
    if not isinstance(sources_raw, list):
        raise ld.fail("sources", "must be an array of tables: [[sources]]")
    sources: list[SourceConfig] = []
    names: set[str] = set()
    for i, s in enumerate(sources_raw):
        where = f"sources[{i}]"
        if not isinstance(s, dict):
            raise ld.fail(where, "must be a table")
        name = ld.name(s, where)
        where = f"sources.{name}"
        enabled = s.get("enabled", True) is not False
        kind = ld.string(s, "kind", where, required=enabled)
        declared: sources_registry.Kind | None = None
        if kind is not None and (enabled or kind in sources_registry.names()):
            try:
                declared = sources_registry.get(kind)
            except UnknownKindError:
                raise ld.fail(f"{where}.kind", f"unknown kind {kind!r}; allowed: "
                              f"{', '.join(sources_registry.names())}") from None
        own_keys = {o.name for o in declared.options} if declared else set()
        ld.check_keys(s, _SOURCE_KEYS | own_keys, where)
        if not _NAME.match(name):
            raise ld.fail(f"{where}.name", "use letters, digits, '.', '_' and '-'")
        if name in names:
            raise ld.fail(f"{where}.name", "duplicate source name; every source needs its own")
        names.add(name)
        if not enabled or declared is None:
            continue
        kind = declared.name
        options: list[tuple[str, object]] = []
        for opt in declared.options:
            if opt.name in s:
                try:
                    options.append((opt.name, opt.check(s[opt.name])))
                except ValueError as exc:
                    raise ld.fail(f"{where}.{opt.name}", str(exc)) from None
        auth = ld.string(s, "authority", where, default="first_party")
        try:
            authority = Authority(auth)
        except ValueError:
            raise ld.fail(f"{where}.authority", f"unknown authority {auth!r}; allowed: "
                          f"{', '.join(a.value for a in Authority)}") from None
        url_raw = ld.string(s, "url", where, required=True)
        assert url_raw is not None
        _check_url(ld, f"{where}.url", url_raw)
        headers_raw = s.get("headers", {})
        if not isinstance(headers_raw, dict) or not all(isinstance(v, str) for v in headers_raw.values()):
            raise ld.fail(f"{where}.headers", "must be a table of strings, e.g. { Authorization = \"Bearer ${KEY}\" }")
        hosts = s.get("allowed_hosts", [])
        if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
            raise ld.fail(f"{where}.allowed_hosts", "must be a list of host names")
        ld.warn_bare(f"{where}.url", url_raw)
        for hk, hv in headers_raw.items():
            ld.warn_bare(f"{where}.headers.{hk}", hv)
        url, miss_url = ld.expand_all(url_raw)
        headers, miss_h = ld.expand_all(dict(headers_raw))
        common = dict(
            kind=kind, authority=authority,
            every=ld.duration(s, "every", where, d_every, minimum=MIN_EVERY),
            headers=headers,
            allowed_hosts=tuple(h.lower() for h in hosts),
            timeout=ld.duration(s, "timeout", where, d_timeout),
            deadline=ld.duration(s, "deadline", where, d_deadline),
            max_bytes=_int(ld, s, "max_bytes", where, d_max, minimum=1024),
            missing_env=tuple(dict.fromkeys(miss_url + miss_h)),
            options=tuple(options),
        )
        if "{target}" in url_raw:
            if not target_ids:
                raise ld.fail(f"{where}.url", "names {target} but no [[targets]] has an id")
            for tid in target_ids:
                if len(name) + 1 + len(tid) > 200:  # sources.name holds 200
                    raise ld.fail(f"{where}.name", f"{name}/{tid} (one source per target) is longer than 200 "
                                                   "characters; shorten the name")
                sources.append(SourceConfig(name=f"{name}/{tid}", url=url.replace("{target}", tid),
                                            url_display=url_raw.replace("{target}", tid), target=tid, **common))
        else:
            sources.append(SourceConfig(name=name, url=url, url_display=url_raw, **common))

    alert_on = raw.get("alert_on", ["confirmed"])
    if not isinstance(alert_on, list) or not set(alert_on) <= set(ALERT_ON):
        raise ld.fail("alert_on", f"must be a list of: {', '.join(ALERT_ON)}")
    channels = _channels(ld, raw.get("channels", []), alert_on, targets)
    threshold = _int(ld, raw, "failure_threshold", "", 3, minimum=1)
    tdir = ld.string(raw, "templates_dir", "")
    templates_dir = (path.parent / tdir) if tdir else None
    jitter = raw.get("jitter", 0.1)
    if not isinstance(jitter, (int, float)) or isinstance(jitter, bool) or not 0 <= jitter <= 0.5:
        raise ld.fail("jitter", "must be a fraction of the interval between 0 and 0.5")

    return Config(path=path, database_url=database_url, targets=tuple(targets), sources=tuple(sources),
                  channels=tuple(channels), alert_on=tuple(alert_on), failure_threshold=threshold,
                  templates_dir=templates_dir, jitter=float(jitter), secrets=frozenset(ld.secrets))


def _int(ld: _Loader, table: Mapping[str, Any], key: str, where: str, default: int, *, minimum: int) -> int:
    if key not in table:
        return default
    v = table[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise ld.fail(f"{where}.{key}" if where else key, f"must be a whole number, at least {minimum}")
    return v


def _check_url(ld: _Loader, key: str, url: str) -> None:
    """Checks the URL as it will be fetched; a `${VAR}` that is not set leaves it unchecked for now
    (its source or channel is then not_configured, and says so)."""
    expanded, missing, _ = expand(url, ld.env)
    if missing:
        return
    probe = expanded.replace("{target}", "x")
    parts = urlsplit(probe)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ld.fail(key, f"{url!r} is not an http(s) URL with a host")


def _targets(ld: _Loader, raw: Any) -> list[Target]:
    if raw is None:
        raw = [{"id": "gpt-image-2"}]
    if not isinstance(raw, list) or not raw:
        raise ld.fail("targets", "must be a non-empty array of tables: [[targets]] id = \"gpt-image-2\"")
    out: list[Target] = []
    seen: set[str] = set()
    for i, t in enumerate(raw):
        where = f"targets[{i}]"
        if not isinstance(t, dict):
            raise ld.fail(where, "must be a table")
        ld.check_keys(t, _TARGET_KEYS, where)
        if ("id" in t) == ("family" in t):
            raise ld.fail(where, "give exactly one of id (a model id) or family (a glob such as gpt-image-*)")
        if "id" in t:
            tid = t["id"]
            if not isinstance(tid, str) or not is_valid_id(tid.lower()):
                raise ld.fail(f"{where}.id", f"{tid!r} is not a model id (letters, digits, '.', '_', '-')")
            target = Target(id=tid.lower())
        else:
            fam = t["family"]
            prefix = fam.split("*", 1)[0].split("?", 1)[0] if isinstance(fam, str) else ""
            if not isinstance(fam, str) or "*" not in fam or len(prefix) < 3 or len(fam) > 200:
                raise ld.fail(f"{where}.family", f"{fam!r}: a family is a glob with a literal prefix of 3 "
                                                 "characters or more (at most 200 in all), e.g. gpt-image-*")
            target = Target(family=fam.lower())
        if target.name in seen:
            raise ld.fail(where, f"duplicate target {target.name!r}")
        seen.add(target.name)
        out.append(target)
    return out


def _channels(ld: _Loader, raw: Any, alert_on: list[str], known: list[Target]) -> list[ChannelConfig]:
    if not isinstance(raw, list):
        raise ld.fail("channels", "must be an array of tables: [[channels]]")
    out: list[ChannelConfig] = []
    names: set[str] = set()
    for i, c in enumerate(raw):
        where = f"channels[{i}]"
        if not isinstance(c, dict):
            raise ld.fail(where, "must be a table")
        name = ld.name(c, where)
        where = f"channels.{name}"
        if name in names:
            raise ld.fail(f"{where}.name", "duplicate channel name")
        names.add(name)
        ctype = ld.string(c, "type", where, required=True)
        types = channel_types()
        decl = types.get(ctype or "")
        if decl is None:
            raise ld.fail(f"{where}.type", f"unknown type {ctype!r}; allowed: {', '.join(types)}")
        ld.check_keys(c, _CHANNEL_COMMON | decl.keys, where)
        for req in decl.required:
            if req not in c:
                raise ld.fail(f"{where}.{req}", f"is required for a {ctype} channel")
        if c.get("enabled", True) is False:
            continue
        # "mentioned" notices are off unless alert_on asks for them; then every channel takes them.
        default_kinds = [k for k in NOTICE_KINDS if k != "mentioned" or "mentioned" in alert_on]
        kinds = c.get("kinds", default_kinds)
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise ld.fail(f"{where}.kinds", f"must be a list of: {', '.join(NOTICE_KINDS)}")
        bad = [k for k in kinds if k not in NOTICE_KINDS]
        if bad:
            raise ld.fail(f"{where}.kinds", f"unknown notice kind {bad[0]!r}; allowed: {', '.join(NOTICE_KINDS)}")
        if c.get("corroboration", True) is False:
            kinds = [k for k in kinds if k != "corroboration"]
        targets = c.get("targets", [])
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ld.fail(f"{where}.targets", "must be a list of target ids")
        names_ok = {t.name for t in known}
        for t in targets:
            # a target id, a family, or an id a family can discover (it becomes a target of its own)
            if t.lower() not in names_ok and not any(k.family and fnmatch.fnmatchcase(t.lower(), k.family)
                                                     for k in known):
                raise ld.fail(f"{where}.targets", f"{t!r} is no configured target or family; configured: "
                                                  f"{', '.join(sorted(names_ok))}")
        settings_raw = {k: v for k, v in c.items() if k in decl.keys}
        if decl.check is not None:
            decl.check(settings_raw, lambda key, msg, w=where: ld.fail(f"{w}.{key}", msg))
        if "timeout" in settings_raw:
            settings_raw["timeout"] = ld.duration(settings_raw, "timeout", where, 10.0)
        for key in decl.url_keys:
            if key in settings_raw:
                if not isinstance(settings_raw[key], str):
                    raise ld.fail(f"{where}.{key}", "must be a string")
                _check_url(ld, f"{where}.{key}", settings_raw[key])
        for key, value in settings_raw.items():
            if key in ("headers",) and isinstance(value, dict):
                for hk, hv in value.items():
                    ld.warn_bare(f"{where}.headers.{hk}", hv)
            else:
                ld.warn_bare(f"{where}.{key}", value)
        settings, missing = ld.expand_all(settings_raw)
        out.append(ChannelConfig(name=name, type=decl.name, kinds=tuple(dict.fromkeys(kinds)),
                                 targets=tuple(t.lower() for t in targets), settings=settings,
                                 missing_env=tuple(dict.fromkeys(missing))))
    return out

