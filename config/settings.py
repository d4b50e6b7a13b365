"""confcast settings: command-line option > CONFCAST_* environment > config file > default.

Settings are built once at the entry point (`load_settings`) and passed down; nothing reads them at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from confcast.tasks.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("~/.config/confcast/config.yaml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFCAST_", extra="forbid", frozen=True)

    storage_url: str | None = Field(
        None,
        description="Where to publish: s3://bucket/prefix or file:///dir. Empty: the embedded local S3 server.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint; when empty boto3 uses AWS_ENDPOINT_URL or AWS itself."
    )
    public_base_url: str | None = Field(
        None, description="Public URL of the storage prefix (a CDN or website endpoint); derived when empty."
    )
    work_dir: Path = Field(Path("~/.cache/confcast"), description="Work files, model cache, local server data.")
    whisper_engine: Literal["faster-whisper", "openai-whisper"] = Field(
        "faster-whisper", description="faster-whisper (fast, the default) or openai-whisper (the reference)."
    )
    whisper_model: str = Field("base", description="Model name (base is packaged) or a local model folder.")
    whisper_device: Literal["auto", "cpu", "cuda"] = "auto"
    whisper_compute_type: str = Field("auto", description="int8 on CPU, float16 on CUDA when auto.")
    whisper_threads: int = Field(
        0,
        ge=0,
        description="CPU threads for Whisper; 0: its share of the cores while the transcode runs beside it "
        "(docs/performance.md), every core when Whisper runs alone.",
    )
    transcode_threads: int = Field(
        0,
        ge=0,
        description="Threads of ffmpeg's decoder, filters and each x264 encoder of the ladder; 0: its measured share "
        "of the cores (docs/performance.md).",
    )
    whisper_temperature_fallback: bool = Field(
        True,
        description="Decode a passage again at higher temperatures when it looks wrong (Whisper's default, against "
        "loops); off: one beam-search pass, several times faster on speech Whisper finds hard (synthetic voices).",
    )
    level_audio: bool = Field(
        True,
        description="Level quiet voices (questions from the room) in what Whisper hears and in the published audio "
        "(dynaudnorm, then -16 LUFS); the original mix is published beside. Off: the sound is only normalised.",
    )
    vocabulary: list[str] = Field(
        [],
        max_length=50,
        description="Words every talk may use (labs, places, acronyms: OpenLab, Clermont-Ferrand, PME), added to each "
        "talk's own vocabulary and given to Whisper as a prompt; empty: no prompt unless a talk has a vocabulary. "
        "Environment: a JSON list, CONFCAST_VOCABULARY='[\"OpenLab\", \"PME\"]'.",
    )
    host_name: str | None = Field(
        None,
        description="This machine in the one-transcription-per-host limit (default: its host name); containers "
        "sharing one machine set the same name.",
    )
    language: str = Field("auto", description="Default spoken language: auto (detect) or a code such as fr.")
    translate: Literal["en"] | None = Field(
        None, description="Also make a machine-translated caption track in this language (Whisper translates to en)."
    )
    site_title: str = "Conférences OpenLab"
    site_language: Literal["fr", "en"] = Field("fr", description="Language of the viewer site's interface.")
    cors_origins: list[str] = Field(
        ["*"],
        description="Web origins allowed to embed the stream and captions (bucket CORS rule); [] removes the rule.",
    )
    public_whole_bucket: bool = Field(
        False,
        description="Allow a site at the root of a bucket (s3://bucket): its bucket policy then makes EVERY object "
        "of the bucket publicly readable. Off: such a site is refused; publish under a prefix (s3://bucket/site).",
    )
    s3_retry_seconds: float = Field(
        120.0,
        ge=0,
        description="How long an S3 request keeps retrying transient errors (server unreachable, timeouts, 5xx, "
        "throttling) with backoff before the run fails; 0 keeps only boto3's quick retries (under a second).",
    )
    site_lock_seconds: float = Field(
        120.0,
        ge=2,
        description="The site lock's lease in an s3:// site (one writer at a time, whatever the host): renewed while "
        "held; a lease not renewed for this long (its holder crashed) is taken over by the next writer.",
    )
    local_s3_port: int = Field(8333, description="Port of the embedded local S3 server (SeaweedFS).")
    keep_work: bool = Field(
        False, description="Keep a run's work folder after it is published (it is kept on failure)."
    )
    # A secret (Slack, Teams and Discord put their token in it): SecretStr hides it from repr and logs, and
    # exclude=True keeps it out of every serialisation, so out of the parameters Prefect stores for a flow run. A
    # run reads it from the Settings object it was given in its own process, or from its environment/config.
    webhook_url: SecretStr | None = Field(
        None,
        exclude=True,
        description="http(s) URL that receives a JSON message when a conference is published or fails (a secret).",
    )
    inbox_url: str | None = Field(
        None, description="Inbox that scan-inbox watches: a folder path, a file:// URL or s3://bucket/prefix."
    )
    inbox_cron: str = Field("*/15 * * * *", description="When scan-inbox runs under `confcast serve` (cron).")
    inbox_claim_hours: float = Field(
        12.0,
        gt=0,
        description="A claim on an inbox recording by another machine is taken back after this many hours (its "
        "scanner presumed dead); longer than the longest publication. Claims by this machine are taken back as "
        "soon as their process is gone.",
    )
    inbox_slides_wait_minutes: float = Field(
        60.0,
        ge=0,
        description="A recording whose sidecar names a slides PDF not in the inbox yet waits this long for it "
        "(files are often copied one after the other); then it is taken, and filed under failed/ with the reason.",
    )

    transcription_deployment: str | None = Field(
        None,
        description="Transcribe through this Prefect deployment (e.g. transcribe-recording/transcribe-recording, "
        "on a GPU work pool) instead of in the publishing process; empty: transcribe here.",
    )
    handover_url: str | None = Field(
        None,
        description="Private s3://bucket/prefix where publishing and transcription runs hand over the speech and "
        "its transcript (never inside the published site); empty: <bucket>/handover beside an s3:// site prefix.",
    )
    transcription_wait_hours: float = Field(
        6.0, gt=0, description="How long a publication waits for its transcription run on another work pool."
    )

    @field_validator("webhook_url")
    @classmethod
    def webhook_is_http(cls, value: SecretStr | None) -> SecretStr | None:
        """Only http:// or https:// (urllib would also open file: and ftp: URLs); the URL itself is never quoted."""
        if value is None or not value.get_secret_value():
            return None
        scheme, _, rest = value.get_secret_value().partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0].split("@")[-1]:
            raise ValueError("give an http:// or https:// URL with a host name (the URL given is not repeated here)")
        return value

    @field_validator("vocabulary")
    @classmethod
    def vocabulary_terms(cls, value: list[str]) -> list[str]:
        """Each term one line of text, at most 60 characters (the limits of a sidecar's vocabulary)."""
        for term in value:
            if len(term) > 60 or not term.strip() or any(ch in term for ch in "\n\r\t\x00"):
                raise ValueError(f"term {term[:20]!r}: give one word or name of 1 to 60 characters on one line")
        return [" ".join(term.split()) for term in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = settings_cls.model_config.get("yaml_file")
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @property
    def work_path(self) -> Path:
        return self.work_dir.expanduser().resolve()


def config_file_path(explicit: Path | None) -> Path | None:
    """The config file in force: the given one, CONFCAST_CONFIG, or ~/.config/confcast/config.yaml if present."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist; create it or leave out --config")
        return explicit
    from_env = os.environ.get("CONFCAST_CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(f"CONFCAST_CONFIG points to {path}, which does not exist")
        return path
    default = DEFAULT_CONFIG_FILE.expanduser()
    return default if default.is_file() else None


def load_settings(config_file: Path | None = None, **options: Any) -> Settings:
    """Build settings once: options given here (None means 'not given') override everything else."""
    given = {key: value for key, value in options.items() if value is not None}
    path = config_file_path(config_file)
    cls: type[Settings] = Settings
    if path is not None:
        cls = type("FileSettings", (Settings,), {"model_config": {**Settings.model_config, "yaml_file": path}})
    try:
        return cls(**given)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        first = error.errors()[0] if hasattr(error, "errors") else {"loc": (), "msg": str(error)}
        where = ".".join(str(part) for part in first["loc"])
        message = " ".join(str(first["msg"]).removeprefix("Value error, ").split())
        raise ConfigError(f"invalid setting {where}: {message}" if where else f"invalid settings: {message}") from None
