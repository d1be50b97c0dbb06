"""One loaded model, many operatories: recognition requests queued fairly, run one at a time on a worker.

Each operatory (a client) has its own first-in-first-out queue; the worker takes the oldest request of the
next client in turn (round robin), so one operatory dictating fast cannot starve the others. The model runs
on the worker's thread only; callers block until their own request is done (or the service stops).
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from voicechart.asr.transcriber import Hypothesis, Transcriber, Transcript, once_each
from voicechart.errors import ModelError

WAKE_S = 0.25
"""How often a thread waiting for recognition (a caller here, the pipeline's loop waiting for the next
utterance) wakes: Python runs a signal handler only when the main thread runs, and Ctrl-C may have reached
another thread."""


@dataclass(slots=True)
class _Request:
    work: Callable[[], Any]  # a recognition, or the token probabilities of one of its hypotheses
    queued_at: float
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    waited_s: float = 0.0


class RecognitionService:
    """A fair queue in front of one transcriber. `client(name)` gives each operatory its own Transcriber."""

    def __init__(self, transcriber: Transcriber) -> None:
        self._transcriber = transcriber
        self._queues: OrderedDict[str, deque[_Request]] = OrderedDict()
        self._lock = threading.Condition()
        self._stopped = False
        self._worker = threading.Thread(target=self._work, name="voicechart-recognizer", daemon=True)
        self._worker.start()
        self.served = 0

    def client(self, name: str) -> ServiceClient:
        with self._lock:
            self._queues.setdefault(name, deque())
        return ServiceClient(self, name)

    def submit(self, name: str, audio: np.ndarray, prompt: str | None) -> Pending:
        return Pending(self, name, self._queue(name, lambda: self._recognize(name, audio, prompt)))

    def _recognize(self, name: str, audio: np.ndarray, prompt: str | None) -> Transcript:
        """On the worker: the transcript, whose token probabilities are asked for through the same queue."""
        transcript = self._transcriber.transcribe(audio, prompt=prompt)
        token_probs = transcript.with_token_probs
        if token_probs is None:
            return transcript

        def queued(hypothesis: Hypothesis) -> Hypothesis:
            request = self._queue(name, functools.partial(token_probs, hypothesis))
            result: Hypothesis = Pending(self, name, request).result()
            return result

        return replace(transcript, with_token_probs=once_each(queued))

    def _queue(self, name: str, work: Callable[[], Any]) -> _Request:
        request = _Request(work, time.perf_counter())
        with self._lock:
            if self._stopped:
                raise ModelError("the recognizer has stopped")
            self._queues.setdefault(name, deque()).append(request)
            self._lock.notify()
        return request

    def _cancel(self, name: str, request: _Request) -> None:
        with self._lock:
            queue = self._queues.get(name)
            if queue is not None and request in queue:
                queue.remove(request)

    def queued(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._worker.join(timeout=30)

    def _next(self) -> _Request | None:
        """The next request, round robin over clients; None once stopped (what is still queued is failed:
        its callers are stopping too, and a backlog must not hold up Ctrl-C)."""
        with self._lock:
            while True:
                if self._stopped:
                    return None
                for name in list(self._queues):
                    queue = self._queues[name]
                    self._queues.move_to_end(name)  # this client goes to the back of the line
                    if queue:
                        return queue.popleft()
                self._lock.wait()

    def _work(self) -> None:
        while (request := self._next()) is not None:
            request.waited_s = time.perf_counter() - request.queued_at
            try:
                request.result = request.work()
            except BaseException as exc:  # handed to the caller's thread
                request.error = exc
            self.served += 1
            request.done.set()
        with self._lock:  # stopped: fail whatever still waits, never leave a caller hanging
            for queue in self._queues.values():
                while queue:
                    left = queue.popleft()
                    left.error = ModelError("the recognizer has stopped")
                    left.done.set()


class Pending:
    """A recognition on its way: `result()` waits for it; `cancel()` drops it if it has not started."""

    def __init__(self, service: RecognitionService, name: str, request: _Request) -> None:
        self._service, self._name, self._request = service, name, request

    def result(self) -> Any:
        """The transcript (or, for a token-probability request, the hypothesis) once the worker is done."""
        request = self._request
        while not request.done.wait(WAKE_S):  # wakes, so that Ctrl-C reaches a caller on the main thread
            pass
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def cancel(self) -> None:
        self._service._cancel(self._name, self._request)


class Recognition(Protocol):
    def result(self) -> Transcript: ...

    def cancel(self) -> None: ...


class _Deferred:
    """For a plain transcriber (no queue): recognize when the result is asked for."""

    def __init__(self, transcriber: Transcriber, audio: np.ndarray) -> None:
        self._transcriber, self._audio = transcriber, audio
        self._result: Transcript | None = None

    def result(self) -> Transcript:
        if self._result is None:
            self._result = self._transcriber.transcribe(self._audio)
        return self._result

    def cancel(self) -> None:
        pass


def start_recognition(transcriber: Transcriber, audio: np.ndarray) -> Recognition:
    """Start recognizing in the background where the transcriber is a shared-service client, else later."""
    if isinstance(transcriber, ServiceClient):
        return transcriber.start(audio)
    return _Deferred(transcriber, audio)


class ServiceClient:
    """One operatory's view of the shared recognizer (a Transcriber)."""

    def __init__(self, service: RecognitionService, name: str) -> None:
        self._service = service
        self.name = name

    def transcribe(self, audio: np.ndarray, *, prompt: str | None = None) -> Transcript:
        transcript: Transcript = self._service.submit(self.name, audio, prompt).result()
        return transcript

    def start(self, audio: np.ndarray) -> Pending:
        """Queue a recognition and return at once (the segmenter's early-end probe)."""
        return self._service.submit(self.name, audio, None)
