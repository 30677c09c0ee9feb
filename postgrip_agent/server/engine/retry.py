"""When the service retries a failed activity or workflow, per its RetryPolicy."""

from __future__ import annotations

from typing import Any, Dict, Optional

DEFAULT_INITIAL_INTERVAL_MS = 1000
DEFAULT_BACKOFF = 2.0


def retry_delay(
    policy: Optional[Dict[str, Any]], attempt: int, failure: Optional[Dict[str, Any]], first_scheduled_at: float, now: float
) -> Optional[float]:
    """Seconds until the next attempt, or ``None`` when the failure is final.

    ``attempt`` is the attempt that just failed (1-based). Without a policy the defaults of
    mature workflow engines apply: 1 s initial interval, coefficient 2, capped at 100x the
    initial interval, unlimited attempts.
    """
    failure = failure or {}
    if failure.get("non_retryable"):
        return None
    policy = policy or {}
    failure_type = failure.get("type")
    if failure_type and failure_type in (policy.get("nonRetryableErrorTypes") or []):
        return None
    maximum_attempts = policy.get("maximumAttempts") or 0
    if maximum_attempts and attempt >= maximum_attempts:
        return None
    initial_ms = policy.get("initialIntervalMs")
    initial = (DEFAULT_INITIAL_INTERVAL_MS if initial_ms is None else float(initial_ms)) / 1000.0
    coefficient = policy.get("backoffCoefficient") or DEFAULT_BACKOFF
    maximum = (policy.get("maximumIntervalMs") or initial * 100_000) / 1000.0
    delay = min(initial * coefficient ** max(0, attempt - 1), maximum)
    expiration = policy.get("expirationIntervalMs")
    if expiration and now + delay > first_scheduled_at + expiration / 1000.0:
        return None
    return delay
