"""Settings come from the environment through typed helpers that refuse bad values.

The helpers take ``environ=`` so these tests never touch ``os.environ``; the checks that
run while ``backoffice.settings`` is imported are tested in a fresh interpreter, since
the settings of this process are already loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from backoffice.celery import app
from backoffice.env import (
    env_bool,
    env_database,
    env_email,
    env_int,
    env_list,
    env_str,
    parse_database_url,
    parse_email_url,
)

ROOT = Path(__file__).resolve().parent.parent

SETUP_DJANGO = "import django; django.setup(); print('settings loaded')"


def import_settings(tmp_path: Path, **variables: str | None) -> subprocess.CompletedProcess:
    """Load ``backoffice.settings`` in a new interpreter with this environment.

    A value of ``None`` removes the variable. SECRET_KEY and DEBUG are removed unless
    given, because the test settings of this process put a SECRET_KEY in os.environ.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "EMAIL_URL"} and not key.startswith("CELERY_")
    }
    env.update(DJANGO_SETTINGS_MODULE="backoffice.settings", VAR_DIR=str(tmp_path / "var"))
    for key, value in variables.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", SETUP_DJANGO],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# env_str


def test_it_reads_a_string():
    assert env_str("LOG_LEVEL", "INFO", environ={"LOG_LEVEL": "DEBUG"}) == "DEBUG"


def test_it_defaults_a_string_when_unset():
    assert env_str("LOG_LEVEL", "INFO", environ={}) == "INFO"


def test_it_refuses_a_missing_string_without_default():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        env_str("SECRET_KEY", environ={})


# env_bool


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "On", " on "])
def test_it_reads_true_words(raw):
    assert env_bool("DEBUG", False, environ={"DEBUG": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_it_reads_false_words(raw):
    assert env_bool("DEBUG", True, environ={"DEBUG": raw}) is False


@pytest.mark.parametrize("default", [True, False])
def test_it_defaults_a_bool_when_unset(default):
    assert env_bool("DEBUG", default, environ={}) is default


def test_it_refuses_a_bool_that_is_neither():
    with pytest.raises(ImproperlyConfigured, match=r"^DEBUG must be one of .*got 'maybe'"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


# env_int


def test_it_reads_an_int():
    assert env_int("REMOVAL_CHUNK_SIZE", 5000, environ={"REMOVAL_CHUNK_SIZE": " 250 "}) == 250


def test_it_defaults_an_int_when_unset():
    assert env_int("REMOVAL_CHUNK_SIZE", 5000, minimum=1, environ={}) == 5000


@pytest.mark.parametrize("raw", ["12x", "1.5", "", "ten"])
def test_it_refuses_an_int_that_is_not_one(raw):
    with pytest.raises(ImproperlyConfigured, match=f"^REMOVAL_CHUNK_SIZE must be an integer; got '{raw}'"):
        env_int("REMOVAL_CHUNK_SIZE", 5000, environ={"REMOVAL_CHUNK_SIZE": raw})


def test_it_refuses_an_int_below_the_minimum():
    with pytest.raises(ImproperlyConfigured, match="^REMOVAL_CHUNK_SIZE must be at least 1; got 0"):
        env_int("REMOVAL_CHUNK_SIZE", 5000, minimum=1, environ={"REMOVAL_CHUNK_SIZE": "0"})


def test_it_refuses_an_int_above_the_maximum():
    with pytest.raises(ImproperlyConfigured, match="^REMOVAL_CHUNK_SIZE must be at most 100000; got 100001"):
        env_int("REMOVAL_CHUNK_SIZE", 5000, maximum=100_000, environ={"REMOVAL_CHUNK_SIZE": "100001"})


def test_it_accepts_an_int_on_its_bounds():
    environ = {"LOW": "1", "HIGH": "100000"}
    assert env_int("LOW", 5, minimum=1, maximum=100_000, environ=environ) == 1
    assert env_int("HIGH", 5, minimum=1, maximum=100_000, environ=environ) == 100_000


# env_list


def test_it_reads_a_comma_separated_list_and_drops_blanks():
    environ = {"ALLOWED_HOSTS": " a.example, b.example ,,"}
    assert env_list("ALLOWED_HOSTS", ["localhost"], environ=environ) == ["a.example", "b.example"]


def test_it_defaults_a_list_to_a_copy():
    default = ["localhost"]
    value = env_list("ALLOWED_HOSTS", default, environ={})
    assert value == ["localhost"]
    value.append("evil.example")
    assert default == ["localhost"]


# DATABASE_URL


def test_it_parses_a_postgres_url_with_a_percent_encoded_password():
    database = env_database(
        "DATABASE_URL",
        "sqlite:///unused.sqlite3",
        environ={"DATABASE_URL": "postgres://app:p%40ss%2Fw%3Ard@db.internal:6432/backoffice?sslmode=require"},
    )
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "backoffice"
    assert database["USER"] == "app"
    assert database["PASSWORD"] == "p@ss/w:rd"
    assert database["HOST"] == "db.internal"
    assert database["PORT"] == "6432"
    assert database["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_it_accepts_every_postgres_scheme(scheme):
    database = parse_database_url(f"{scheme}://app@localhost/backoffice")
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["USER"], database["PASSWORD"], database["PORT"]) == ("app", "", "")


def test_it_parses_an_absolute_sqlite_path():
    database = parse_database_url("sqlite:////srv/backoffice/demo.sqlite3")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == "/srv/backoffice/demo.sqlite3"


def test_it_parses_a_relative_sqlite_path():
    database = parse_database_url("sqlite:///var/demo.sqlite3")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == "var/demo.sqlite3"


def test_it_defaults_the_database_when_unset_or_empty():
    for environ in ({}, {"DATABASE_URL": ""}):
        database = env_database("DATABASE_URL", "sqlite:////tmp/default.sqlite3", environ=environ)
        assert database["NAME"] == "/tmp/default.sqlite3"


def test_it_refuses_an_unknown_database_scheme():
    with pytest.raises(ImproperlyConfigured, match=r"^DATABASE_URL must start with postgres://.*got 'mysql'"):
        env_database("DATABASE_URL", "", environ={"DATABASE_URL": "mysql://app:secret@db/backoffice"})


@pytest.mark.parametrize("url", ["postgres://app:secret@db", "postgres://app:secret@db/"])
def test_it_refuses_a_postgres_url_without_a_database(url):
    with pytest.raises(ImproperlyConfigured, match="^DATABASE_URL must name a database"):
        env_database("DATABASE_URL", "", environ={"DATABASE_URL": url})


@pytest.mark.parametrize("url", ["postgres://app@db:54x2/backoffice", "postgres://app@db:99999/backoffice"])
def test_it_refuses_a_postgres_url_with_a_bad_port(url):
    with pytest.raises(ImproperlyConfigured, match="^DATABASE_URL has a bad port"):
        env_database("DATABASE_URL", "", environ={"DATABASE_URL": url})


def test_it_refuses_a_sqlite_url_without_a_file():
    with pytest.raises(ImproperlyConfigured, match="^DATABASE_URL must name a SQLite file"):
        env_database("DATABASE_URL", "", environ={"DATABASE_URL": "sqlite://"})


@pytest.mark.parametrize("url", ["postgres://app:hunter2@db:54x2/backoffice", "postgres://app:hunter2@db/"])
def test_a_refused_database_url_does_not_leak_its_password(url):
    with pytest.raises(ImproperlyConfigured) as refused:
        env_database("DATABASE_URL", "", environ={"DATABASE_URL": url})
    assert "hunter2" not in str(refused.value)


# EMAIL_URL


def test_it_parses_smtp_with_tls():
    email = env_email(
        "EMAIL_URL",
        "console://",
        environ={"EMAIL_URL": "smtp://mailer:s%3Acret@smtp.example.com:587?tls=1"},
    )
    assert email == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "s:cret",
        "EMAIL_USE_SSL": False,
        "EMAIL_USE_TLS": True,
    }


def test_it_defaults_smtp_ports_and_reads_smtps_as_ssl():
    assert parse_email_url("smtp://relay.internal")["EMAIL_PORT"] == 25
    assert parse_email_url("smtp://relay.internal")["EMAIL_USE_TLS"] is False
    smtps = parse_email_url("smtps://relay.internal")
    assert (smtps["EMAIL_PORT"], smtps["EMAIL_USE_SSL"], smtps["EMAIL_USE_TLS"]) == (465, True, False)


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("console://", "django.core.mail.backends.console.EmailBackend"),
        ("locmem://", "django.core.mail.backends.locmem.EmailBackend"),
    ],
)
def test_it_reads_the_serverless_mail_backends(url, backend):
    assert parse_email_url(url) == {"EMAIL_BACKEND": backend}


def test_it_reads_a_file_mail_backend_with_its_folder():
    assert parse_email_url("file:///var/mail/outbox") == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": "/var/mail/outbox",
    }


def test_it_defaults_the_mail_backend_when_unset():
    assert env_email("EMAIL_URL", "console://", environ={}) == {
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"
    }


def test_it_refuses_an_unknown_mail_scheme():
    with pytest.raises(ImproperlyConfigured, match=r"^EMAIL_URL must start with one of console://"):
        env_email("EMAIL_URL", "console://", environ={"EMAIL_URL": "sendmail://localhost"})


@pytest.mark.parametrize("url", ["smtp://", "smtp://:587", "smtps://user@"])
def test_it_refuses_smtp_without_a_host(url):
    with pytest.raises(ImproperlyConfigured, match="^EMAIL_URL must name an SMTP host"):
        env_email("EMAIL_URL", "console://", environ={"EMAIL_URL": url})


def test_it_refuses_smtp_with_a_bad_port():
    with pytest.raises(ImproperlyConfigured, match="^EMAIL_URL has a bad port"):
        env_email("EMAIL_URL", "console://", environ={"EMAIL_URL": "smtp://relay.internal:25x"})


def test_a_refused_mail_url_does_not_leak_its_password():
    with pytest.raises(ImproperlyConfigured) as refused:
        env_email("EMAIL_URL", "console://", environ={"EMAIL_URL": "smtp://mailer:hunter2@relay:25x"})
    assert "hunter2" not in str(refused.value)


# backoffice.settings, loaded in a fresh interpreter


def test_the_settings_load_with_a_secret_key(tmp_path):
    loaded = import_settings(tmp_path, SECRET_KEY="a-real-secret", DEBUG="0")
    assert loaded.returncode == 0, loaded.stderr
    assert "settings loaded" in loaded.stdout


def test_the_settings_refuse_to_load_without_a_secret_key_when_debug_is_off(tmp_path):
    refused = import_settings(tmp_path, DEBUG="0")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off." in refused.stderr


def test_the_settings_load_without_a_secret_key_in_debug(tmp_path):
    loaded = import_settings(tmp_path, DEBUG="1")
    assert loaded.returncode == 0, loaded.stderr


@pytest.mark.parametrize(("soft", "hard"), [("300", "300"), ("300", "120")])
def test_the_settings_refuse_a_hard_time_limit_not_above_the_soft_one(tmp_path, soft, hard):
    refused = import_settings(
        tmp_path,
        SECRET_KEY="a-real-secret",
        CELERY_TASK_SOFT_TIME_LIMIT=soft,
        CELERY_TASK_TIME_LIMIT=hard,
    )
    assert refused.returncode != 0
    assert (
        "ImproperlyConfigured: CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT."
        in refused.stderr
    )


def test_the_settings_refuse_a_bad_value_naming_the_variable(tmp_path):
    refused = import_settings(tmp_path, SECRET_KEY="a-real-secret", REMOVAL_CHUNK_SIZE="lots")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: REMOVAL_CHUNK_SIZE must be an integer; got 'lots'." in refused.stderr


def test_the_broker_visibility_timeout_outlasts_the_hard_time_limit(tmp_path):
    # With acks_late, Redis hands an unacknowledged task to another worker once the
    # visibility timeout passes: shorter than the time limit, a slow task runs twice at once.
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], s.CELERY_TASK_TIME_LIMIT)"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("CELERY_")}
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        SECRET_KEY="a-real-secret",
        VAR_DIR=str(tmp_path / "var"),
        CELERY_BROKER_URL="redis://127.0.0.1:6379/14",
        CELERY_TASK_SOFT_TIME_LIMIT="7000",
        CELERY_TASK_TIME_LIMIT="7200",
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    visibility_timeout, time_limit = map(int, loaded.stdout.split())
    assert visibility_timeout > time_limit


# Facts of the loaded settings


def test_the_clock_is_utc_and_timezone_aware():
    assert settings.TIME_ZONE == "UTC"
    assert settings.USE_TZ is True
    assert settings.CELERY_TIMEZONE == "UTC"


def test_tasks_acknowledge_late_and_are_redelivered_when_a_worker_dies():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    # The Celery app reads them under its own names.
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


def test_tasks_have_a_soft_and_a_longer_hard_time_limit():
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT > 0
    assert settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT


def test_beat_reads_its_schedule_from_the_database():
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
