"""The recording activities: each turns one Agora call into a typed result or a classified failure.

They are thin on purpose. The storage keys and the RTC token are added here, from the worker's settings, so they
never enter workflow history. Retries are Temporal's, on the schedules in `activities.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import TypeVar

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import errors
from activities.pacing import Pace
from activities.storage import StorageProfile
from agora import errors as agora_errors
from agora import files, models
from agora.client import AgoraClient
from agora.tokens import build_rtc_token
from workflows import names, policy
from workflows.models import (
    AcquireInput,
    AcquireResult,
    QueryInput,
    QueryResult,
    RecordingRequest,
    StartInput,
    StartResult,
    StopInput,
    StopResult,
    UpdateInput,
    UpdateResult,
)

log = logging.getLogger("activities.recording")

T = TypeVar("T")
# Query status 6: the stop request was received and the recorder is on its way out.
STOP_RECEIVED = 6


async def _counted(operation: str, call: Awaitable[T]) -> T:
    """Await one Agora call, counting it by operation and outcome (the error class, or "ok") in the worker metrics."""
    counter = activity.metric_meter().create_counter("agora_requests", "Agora REST calls by operation and outcome")
    try:
        result = await call
    except agora_errors.AgoraError as err:
        counter.add(1, {"operation": operation, "outcome": err.kind})
        raise
    counter.add(1, {"operation": operation, "outcome": "ok"})
    return result


def refused_request(operation: str, exc: ValidationError) -> ApplicationError:
    """A request Agora would refuse, caught while building it: non-retryable, naming each field (never a value)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    )
    return ApplicationError(
        f"{operation} not sent: Agora would refuse the request ({problems})",
        type=names.ErrorType.REQUEST_INVALID,
        non_retryable=True,
    )


def build_start_request(
    request: RecordingRequest,
    uid: str,
    storage: StorageProfile,
    token: str | None,
    resource_expired_hour: int = policy.UNPLANNED_HOURS,
) -> models.StartClientRequest:
    """Agora's start body for this request and uid, with the storage keys and token added.

    A web recorder's maxRecordingHour is the resource's life: Agora requires it not to exceed resourceExpiredHour, and
    it bounds what a forgotten recorder can bill.
    """
    storage_config = models.StorageConfig(
        **storage.model_dump(exclude={"endpoint"}),
        file_name_prefix=request.file_name_prefix or None,
        extension_params={"endpoint": storage.endpoint} if storage.endpoint else None,
    )
    file_config = models.RecordingFileConfig(av_file_type=list(request.av_file_type))
    if request.mode == "web":
        assert request.web_url is not None
        return models.StartClientRequest(
            token=None,
            recording_file_config=file_config,
            storage_config=storage_config,
            extension_service_config=models.ExtensionServiceConfig(
                error_handle_policy="error_abort",
                extension_services=[
                    models.ExtensionService(
                        service_name="web_recorder_service",
                        error_handle_policy="error_abort",
                        service_param=models.WebRecorderServiceParam(
                            url=request.web_url,
                            max_recording_hour=resource_expired_hour,
                            audio_profile=0,
                            video_width=1280,
                            video_height=720,
                        ),
                    )
                ],
            ),
        )
    transcoding = None
    if request.mode == "mix" and request.transcoding is not None:
        # The product's settings carry the wire model's own field names.
        transcoding = models.TranscodingConfig(**request.transcoding.model_dump())
    recording = models.RecordingConfig(
        channel_type=request.channel_type,
        stream_types=request.stream_types,
        max_idle_time=request.max_idle_time,
        subscribe_audio_uids=request.subscribe_audio_uids,
        subscribe_video_uids=request.subscribe_video_uids,
        subscribe_uid_group=request.effective_subscribe_uid_group if request.mode == "individual" else None,
        transcoding_config=transcoding,
    )
    return models.StartClientRequest(
        token=token,
        recording_config=recording,
        recording_file_config=file_config,
        storage_config=storage_config,
    )


class RecordingActivities:
    """Agora calls as activities; one instance per worker, holding the client and the worker-side secrets."""

    def __init__(
        self,
        client: AgoraClient,
        *,
        app_id: str,
        storage_profiles: Mapping[str, StorageProfile],
        app_certificate: str | None = None,
        query_pace: Pace | None = None,
    ) -> None:
        self._client = client
        self._app_id = app_id
        self._storage = dict(storage_profiles)
        self._certificate = app_certificate
        # Queries run as local activities bypass the query task queue's rate limit: this worker paces them itself.
        self._query_pace = query_pace

    @activity.defn(name=names.ACQUIRE)
    async def acquire_resource(self, params: AcquireInput) -> AcquireResult:
        """Acquire a resourceId for one recorder uid."""
        request = models.AcquireClientRequest(
            scene=1 if params.mode == "web" else 0,
            resource_expired_hour=params.resource_expired_hour,
            exclude_resource_ids=params.exclude_resource_ids or None,
        )
        attempt = activity.info().attempt
        try:
            answer = await _counted(
                "acquire", self._client.acquire(params.channel, params.uid, request, attempt=attempt)
            )
        except agora_errors.AgoraError as err:
            raise errors.to_application_error(err, policy.ACQUIRE) from None
        return AcquireResult(resource_id=answer.resource_id)

    @activity.defn(name=names.START)
    async def start_recorder(self, params: StartInput) -> StartResult:
        """Start a recorder; a duplicate-start answer that names the sid recovers a start whose answer was lost."""
        req = params.request
        storage = self._storage.get(req.storage_profile)
        if storage is None:
            known = ", ".join(sorted(self._storage)) or "none configured"
            raise ApplicationError(
                f"storage profile {req.storage_profile!r} is not configured on the worker (known: {known})",
                type=names.ErrorType.STORAGE_PROFILE_UNKNOWN,
                non_retryable=True,
            )
        token = None
        if self._certificate and req.mode != "web":
            try:
                token = build_rtc_token(
                    app_id=self._app_id,
                    app_certificate=self._certificate,
                    channel=req.channel,
                    uid=params.uid,
                    token_expire_seconds=params.token_expire_seconds,
                )
            except ValueError as exc:  # the message names the field, never the certificate
                raise ApplicationError(
                    f"cannot build the RTC token: {exc}", type=names.ErrorType.TOKEN_ERROR, non_retryable=True
                ) from None
        expires = params.resource_expired_hour or policy.UNPLANNED_HOURS
        try:
            body = build_start_request(req, params.uid, storage, token, expires)
        except ValidationError as exc:
            raise refused_request("start", exc) from None
        attempt = activity.info().attempt
        try:
            answer = await _counted(
                "start",
                self._client.start(params.resource_id, req.mode, req.channel, params.uid, body, attempt=attempt),
            )
            sid, recovered = answer.sid, False
        except agora_errors.AlreadyStarted as err:
            if not err.sid:
                raise errors.to_application_error(err, policy.START) from None
            # An earlier attempt reached Agora but its answer was lost (timeout, worker crash): the same resource
            # is already recording, and Agora named its sid. Adopt it instead of starting a second recorder.
            log.warning("start on resource %s was already accepted; recovered sid %s", params.resource_id, err.sid)
            sid, recovered = err.sid, True
        except agora_errors.InvalidParameter as err:
            if activity.info().attempt > 1:
                # The same body was valid on the first attempt: what changed is the resource, which an earlier
                # attempt whose answer was lost has used (and whose recorder has ended). A new acquire is needed.
                raise ApplicationError(
                    f"resource {params.resource_id} was used by an earlier attempt: {err}",
                    type=names.ErrorType.RESOURCE_CONSUMED,
                    non_retryable=True,
                ) from None
            raise errors.to_application_error(err, policy.START) from None
        except agora_errors.AgoraError as err:
            raise errors.to_application_error(err, policy.START) from None
        spliced = files.expected_m3u8_names(
            sid=sid,
            cname=req.channel,
            mode=req.mode,
            uids=[u for u in (req.subscribe_audio_uids or []) if u != "#allstream#"],
            stream_types=req.stream_types,
            file_name_prefix=req.file_name_prefix,
        )
        return StartResult(sid=sid, resource_id=params.resource_id, recovered=recovered, m3u8_names=spliced)

    @activity.defn(name=names.QUERY)
    async def query_recorder(self, params: QueryInput) -> QueryResult:
        """Query a recorder; Agora's 404 is an answer (found=False), not a failure."""
        if self._query_pace is not None and activity.info().is_local:
            await self._query_pace.wait()
        try:
            answer = await _counted(
                "query",
                self._client.query(params.resource_id, params.sid, params.mode, attempt=activity.info().attempt),
            )
        except agora_errors.NotFound:
            return QueryResult(found=False)
        except agora_errors.ServiceExiting:
            # 501: stopped and uploading its last files; answered as the status Agora gives that moment (6).
            return QueryResult(found=True, status=STOP_RECEIVED)
        except agora_errors.AgoraError as err:
            raise errors.to_application_error(err, policy.QUERY) from None
        response = answer.server_response
        return QueryResult(
            found=True,
            status=response.status,
            uid=answer.uid,
            file_names=files.file_names(response),
            m3u8_names=files.m3u8_names(response),
        )

    @activity.defn(name=names.STOP)
    async def stop_recorder(self, params: StopInput) -> StopResult:
        """Stop a recorder and wait for the upload status; a recorder already gone is an answer, not a failure."""
        try:
            answer = await _counted(
                "stop",
                self._client.stop(
                    params.resource_id,
                    params.sid,
                    params.mode,
                    params.channel,
                    params.uid,
                    attempt=activity.info().attempt,
                ),
            )
        except agora_errors.UploadTimeout as err:
            # Stopped; the upload outlasted Agora's wait. A second stop would only meet "already exiting".
            listed = models.ServerResponse.model_validate(err.server_response or {})
            return StopResult(
                outcome="stopped",
                uploading_status=listed.uploading_status or "unknown",
                file_names=files.file_names(listed),
                detail=f"Agora answered code 50, the upload outlasted its wait: {err.reason or 'upload timeout'}",
            )
        except agora_errors.NotFound as err:
            return StopResult(outcome="already_gone", detail=err.reason)
        except (agora_errors.InvalidOperation, agora_errors.ServiceExiting) as err:
            return StopResult(outcome="already_exiting", detail=err.reason)
        except agora_errors.NoRecordedData as err:
            return StopResult(outcome="no_recorded_data", detail=err.reason)
        except agora_errors.AgoraError as err:
            raise errors.to_application_error(err, policy.STOP) from None
        response = answer.server_response
        return StopResult(
            outcome="stopped",
            uploading_status=response.uploading_status,
            file_names=files.file_names(response),
        )

    @activity.defn(name=names.UPDATE)
    async def update_recorder(self, params: UpdateInput) -> UpdateResult:
        """Change a running recorder's subscription lists or (mix mode) its layout."""
        where = (params.resource_id, params.sid, params.mode, params.channel, params.uid)
        attempt = activity.info().attempt
        try:
            if params.layout is not None:
                layout = models.UpdateLayoutClientRequest(**params.layout.model_dump())
                await _counted("updateLayout", self._client.update_layout(*where, layout, attempt=attempt))
            if params.subscription is not None:
                sub = params.subscription
                audio = sub.subscribe_audio_uids
                video = sub.subscribe_video_uids
                streams = models.StreamSubscribe(
                    audio_uid_list=models.AudioUidList(subscribe_audio_uids=audio) if audio is not None else None,
                    video_uid_list=models.VideoUidList(subscribe_video_uids=video) if video is not None else None,
                )
                body = models.UpdateClientRequest(stream_subscribe=streams)
                await _counted("update", self._client.update(*where, body, attempt=attempt))
        except ValidationError as exc:
            raise refused_request("update", exc) from None
        except agora_errors.AgoraError as err:
            raise errors.to_application_error(err, policy.UPDATE) from None
        return UpdateResult(sid=params.sid)
