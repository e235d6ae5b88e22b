"""Storage profiles: where Agora uploads a recording's files, with the keys that only the worker holds.

The workflow's request names a profile; the start activity looks it up here and adds its keys to Agora's
storageConfig, so the keys never enter workflow history.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

STORAGE_VENDORS = (1, 2, 3, 5, 6, 7, 8, 11)


class StorageProfile(BaseModel):
    """One cloud storage target for recorded files (Agora's storageConfig)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: Annotated[
        int,
        Field(description="1 S3, 2 Alibaba, 3 Tencent, 5 Azure, 6 Google, 7 Huawei, 8 Baidu, 11 S3-compatible"),
    ]
    region: int = 0
    bucket: str
    access_key: SecretStr
    secret_key: SecretStr
    endpoint: str | None = Field(default=None, description="vendor 11 only: the S3-compatible endpoint")

    @field_validator("vendor")
    @classmethod
    def _vendor(cls, value: int) -> int:
        if value not in STORAGE_VENDORS:
            raise ValueError(f"storage vendor {value} is not one of Agora's: 1, 2, 3, 5, 6, 7, 8 or 11")
        return value
