"""The Batch Transform HTTP contract as a WSGI app: /ping, /invocations, /execution-parameters.

Served by waitress. A bad request gets a 4xx with a message a person can act on, and the
server stays up for the next one.
"""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from ...csv_output import to_csv_text
from .model import TrainedModel, predict

MAX_PAYLOAD_MB = 6
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class BadRequest(ValueError):
    """The payload cannot be scored; the message says why."""


def parse_csv_payload(body: bytes, n_features: int) -> np.ndarray:
    """Header-less CSV rows of exactly `n_features` numbers (empty means missing).

    A record is what Batch Transform's Line split gives: the text up to a newline. Trailing
    carriage returns belong to the line ending (CRLF, or a stray CR), so one record always gives
    one line; anything this parser cannot read is a BadRequest naming the line, never a 5xx.
    """
    if not body.strip():
        raise BadRequest("Empty payload: send text/csv rows of processed features, one record per line.")
    try:
        text = body.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise BadRequest(
            f"Line {line} is not UTF-8 (byte 0x{body[exc.start]:02x}); send the processed CSV as UTF-8 text."
        ) from exc
    text = text.strip("\n")
    if "\r" in text:
        text = "\n".join(line.rstrip("\r") for line in text.split("\n"))
    if "\r" in text:
        _refuse_lines_with(text, "\r", "holds a carriage return inside the record; end each record with \\n")
    if '"' in text:
        _refuse_lines_with(text, '"', "holds a quote; send plain numbers, one record per line")
    n_lines = text.count("\n") + 1
    if text.count(",") != n_lines * (n_features - 1):
        _raise_for_bad_line(text, n_features)
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, dtype="float64", skip_blank_lines=False)
    except pd.errors.ParserError:
        _raise_for_bad_line(text, n_features)
    except ValueError as exc:
        raise BadRequest(f"Payload holds a value that is not a number: {exc}") from exc
    if frame.shape != (n_lines, n_features):  # counts that cancel out across lines
        _raise_for_bad_line(text, n_features)
    values = frame.to_numpy()
    infinite = np.isinf(values)
    return np.where(infinite, np.nan, values) if infinite.any() else values  # inf is missing, as in processing


def _refuse_lines_with(text: str, character: str, problem: str) -> NoReturn:
    for number, line in enumerate(text.split("\n"), start=1):
        if character in line:
            raise BadRequest(f"Line {number} {problem}.")
    raise BadRequest(f"The payload {problem}.")


def _raise_for_bad_line(text: str, n_features: int) -> NoReturn:
    """The first line whose field count is wrong, as a BadRequest a person can act on."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.count(",") != n_features - 1:
            raise BadRequest(
                f"Line {number} has {line.count(',') + 1} field(s); the model expects {n_features} "
                "(processed features in schema.json order, no header, no target)."
            )
    raise BadRequest(f"The payload does not split into records of {n_features} field(s) each.")


def format_predictions(predictions: pd.DataFrame) -> bytes:
    """One CSV line per input record, no header; numbers with 6 significant digits."""
    return to_csv_text(predictions, "%.6g").encode()


def create_app(model: TrainedModel, max_concurrent_transforms: int = 1) -> Callable[..., Iterable[bytes]]:
    """The WSGI application serving `model`."""
    n_features = len(model.schema.features)
    execution_parameters = json.dumps(
        {
            "MaxConcurrentTransforms": max_concurrent_transforms,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": MAX_PAYLOAD_MB,
        }
    ).encode()

    def respond(start_response: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/ping" and method in {"GET", "HEAD"}:
            return respond(start_response, "200 OK", b"", "text/plain")
        if path == "/execution-parameters" and method == "GET":
            return respond(start_response, "200 OK", execution_parameters, "application/json")
        if path != "/invocations":
            return respond(start_response, "404 Not Found", f"No route {path}\n".encode(), "text/plain")
        if method != "POST":
            return respond(start_response, "405 Method Not Allowed", b"POST text/csv to /invocations\n", "text/plain")
        content_type = environ.get("CONTENT_TYPE", "text/csv").split(";")[0].strip().lower()
        if content_type not in {"text/csv", ""}:
            message = f"Unsupported content type '{content_type}'; send text/csv.\n".encode()
            return respond(start_response, "415 Unsupported Media Type", message, "text/plain")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_PAYLOAD_MB * 1024 * 1024:
            message = f"Payload of {length} bytes exceeds {MAX_PAYLOAD_MB} MB; lower MaxPayloadInMB.\n".encode()
            return respond(start_response, "413 Payload Too Large", message, "text/plain")
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            features = parse_csv_payload(body, n_features)
            output = format_predictions(predict(model, features))
        except (BadRequest, UnicodeDecodeError) as exc:
            return respond(start_response, "400 Bad Request", f"{exc}\n".encode(), "text/plain")
        return respond(start_response, "200 OK", output, "text/csv")

    return app


class _Stop(SystemExit):
    """SIGTERM: SageMaker ends a transform by stopping the container; that is a clean exit.

    A SystemExit, so that waitress's event loop passes it on from whatever handler it interrupts.
    """


def serve_forever(model: TrainedModel) -> None:
    """Listen on 8080, or $SAGEMAKER_BIND_TO_PORT, until SageMaker stops the container (SIGTERM).

    The container answers on every interface, as Batch Transform needs; local mode sets
    $MODEL_SERVER_HOST to the loopback so that a laptop does not expose the model.
    """
    import waitress

    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    host = os.environ.get("MODEL_SERVER_HOST", "0.0.0.0")
    threads = int(os.environ.get("SERVER_THREADS", str(max(2, os.cpu_count() or 1))))
    app = create_app(model, max_concurrent_transforms=threads)
    server = waitress.create_server(app, host=host, port=port, threads=threads, ident=None)

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    print(f"algorithm serve: listening on {host}:{port} with {threads} threads", flush=True)
    try:
        server.run()
    except _Stop:
        print("algorithm serve: stopped (SIGTERM)", flush=True)
    finally:
        server.close()
