#!/usr/bin/env python3
"""Client of the ClosedLoop event bus and remote control (pyzmq; Debian: apt-get install python3-zmq).

Use it as a script:

    closedloop_client.py watch --bus tcp://127.0.0.1:5556 --topics traces event.
    closedloop_client.py control --control tcp://127.0.0.1:5557 status
    closedloop_client.py control --control tcp://127.0.0.1:5557 set detectors.motor.thresholdDff 0.8
    closedloop_client.py keys

or as a library:

    from closedloop_client import BusSubscriber, ControlClient
    with BusSubscriber("tcp://127.0.0.1:5556", ["traces"]) as bus:
        msg = bus.receive(timeout_ms=1000)
        print(msg.topic, msg.header["frameIndex"], msg.values()[:5])

Every bus message has three parts: the topic, a JSON header and a binary payload (little-endian float32 or uint16
arrays as the header's "dtype" and "shape" say, JSON for run.start/run.info, empty for events and status).
docs/messaging.md in the repository describes every topic and command.
"""

import argparse
import array
import json
import sys

import zmq

__all__ = ["BusMessage", "BusSubscriber", "ControlClient", "ControlError"]

_DTYPES = {"float32": "f", "uint16": "H"}


class BusMessage:
    """One message from the bus: topic (str), header (dict), payload (bytes)."""

    def __init__(self, topic, header, payload):
        self.topic = topic
        self.header = header
        self.payload = payload

    def values(self):
        """The payload as a list of numbers (frames: uint16 pixels row-major; traces, rates: float32 per unit)."""
        code = _DTYPES.get(self.header.get("dtype"))
        if code is None:
            return []
        values = array.array(code)
        values.frombytes(self.payload)
        if sys.byteorder == "big":
            values.byteswap()
        return values.tolist()

    def json(self):
        """The payload parsed as JSON (run.start and run.info carry units, groups, parameters and metadata)."""
        return json.loads(self.payload.decode("utf-8")) if self.payload else None


class BusSubscriber:
    """Subscribes to topics (prefixes: "event." means every event) and counts messages missed (gaps in each topic's seq)."""

    def __init__(self, endpoint, topics=("",), server_public_key=None, context=None, receive_hwm=10000):
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.RCVHWM, receive_hwm)
        self._socket.setsockopt(zmq.LINGER, 0)
        if server_public_key:
            public, secret = zmq.curve_keypair()
            self._socket.curve_serverkey = server_public_key.encode("ascii")
            self._socket.curve_publickey = public
            self._socket.curve_secretkey = secret
        for topic in topics or ("",):
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
        self._socket.connect(endpoint)
        self._last_seq = {}
        self.received = 0
        self.missed = 0

    def receive(self, timeout_ms=None):
        """The next message, or None when none arrives within timeout_ms (None = wait forever)."""
        if self._socket.poll(timeout_ms) == 0:
            return None
        parts = self._socket.recv_multipart()
        if len(parts) != 3:
            return self.receive(0)  # not a bus message: skip it
        topic = parts[0].decode("utf-8")
        header = json.loads(parts[1].decode("utf-8"))
        seq = header.get("seq", 0)
        last = self._last_seq.get(topic)
        if last is not None and seq > last + 1:
            self.missed += seq - last - 1
        self._last_seq[topic] = seq
        self.received += 1
        return BusMessage(topic, header, parts[2])

    def close(self):
        self._socket.close(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ControlError(Exception):
    """The server refused a request; .code is the machine-readable reason (bad-request, unauthorised, busy, ...)."""

    def __init__(self, code, message, reply):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.reply = reply


class ControlClient:
    """Sends control requests (one JSON object each) and returns the replies as dicts."""

    def __init__(self, endpoint, token=None, server_public_key=None, timeout_ms=5000, context=None):
        self._endpoint = endpoint
        self._token = token
        self._server_public_key = server_public_key
        self._timeout_ms = timeout_ms
        self._context = context or zmq.Context.instance()
        self._socket = self._open()

    def _open(self):
        s = self._context.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        if self._server_public_key:
            public, secret = zmq.curve_keypair()
            s.curve_serverkey = self._server_public_key.encode("ascii")
            s.curve_publickey = public
            s.curve_secretkey = secret
        s.connect(self._endpoint)
        return s

    def request(self, command, check=True, **fields):
        """Sends {"command": command, **fields} (and the token); returns the reply. With check, a refusal raises ControlError."""
        body = {"command": command, **fields}
        if self._token:
            body["token"] = self._token
        self._socket.send(json.dumps(body).encode("utf-8"))
        if self._socket.poll(self._timeout_ms) == 0:
            self._socket.close(0)  # a REQ socket that lost its reply cannot send again
            self._socket = self._open()
            raise TimeoutError(f"no reply from {self._endpoint} within {self._timeout_ms} ms")
        reply = json.loads(self._socket.recv().decode("utf-8"))
        if check and not reply.get("ok"):
            error = reply.get("error", {})
            raise ControlError(error.get("code", "?"), error.get("message", ""), reply)
        return reply

    def ping(self):
        return self.request("ping")

    def status(self):
        return self.request("status")["status"]

    def parameters(self):
        return self.request("parameters")["parameters"]

    def start(self):
        return self.request("start")

    def stop(self, reason=None):
        return self.request("stop", **({"reason": reason} if reason else {}))

    def set(self, name, value):
        return self.request("set", name=name, value=float(value))

    def load(self, profile, experiment):
        return self.request("load", profile=profile, experiment=experiment)

    def roi(self, action, **fields):
        """Edits the ROI set of a run with rois: online: roi("add", x=40, y=22, radius=5), roi("add", pixels=[...]),
        roi("lock", id=3), roi("unlock", id=3), roi("delete", id=3). Applied before the next frame."""
        return self.request("roi", action=action, **fields)

    def close(self):
        self._socket.close(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def describe(msg):
    """One line about a message, as `watch` prints it."""
    h = msg.header
    topic = msg.topic
    run = h.get("runId", "")
    if topic == "frame":
        pixels = msg.values()
        rows, cols = h["shape"]
        mean = sum(pixels) / len(pixels) if pixels else 0.0
        return f"frame run={run} frame={h['frameIndex']} seq={h['seq']} shape={rows}x{cols} binning={h['binning']} mean={mean:.2f}"
    if topic in ("traces", "rates", "noise", "raw"):
        values = msg.values()
        shown = ",".join(f"{v:.4g}" for v in values[:8])
        return f"{topic} run={run} frame={h['frameIndex']} seq={h['seq']} n={len(values)} values={shown}"
    if topic.startswith("event."):
        value = h.get("value")
        return (f"{topic} run={run} kind={h['kind']} sampleTimeNs={h['sampleTimeNs']} source={h['source']} "
                f"message={json.dumps(h['message'])} value={value}")
    if topic in ("run.start", "run.info"):
        info = msg.json() or {}
        return (f"{topic} run={run} profile={h['profile']} experiment={h['experiment']} size={h['widthPx']}x{h['heightPx']} "
                f"units={len(info.get('units', []))} groups={len(info.get('groups', []))} topics={','.join(h.get('topics', []))}")
    if topic == "run.end":
        return (f"run.end run={run} outcome={h['outcome']} frames={h['framesPublished']} "
                f"droppedByTap={h['framesDroppedByTap']}")
    if topic == "status":
        bus = h.get("bus", {})
        return (f"status run={run} state={h.get('state')} framesProcessed={h.get('framesProcessed', 0)} "
                f"messagesSent={bus.get('messagesSent', 0)}")
    return f"{topic} {json.dumps(h)}"


def _watch(args):
    topics = args.topics or [""]
    # Status comes about once a second whatever else is subscribed: it tells us the subscription is live.
    wanted = list(topics) + ([] if any("status".startswith(t) for t in topics) else ["status"])
    count = 0
    ready = False
    with BusSubscriber(args.bus, wanted, server_public_key=args.server_key) as bus:
        print(f"# subscribed to {args.bus}: {' '.join(repr(t) for t in topics)}", flush=True)
        while True:
            msg = bus.receive(timeout_ms=int(args.timeout * 1000))
            if msg is None:
                print(f"# nothing for {args.timeout} s; received {bus.received}, missed {bus.missed}", flush=True)
                return 1
            if not ready:
                ready = True
                print("# ready", flush=True)
            if msg.topic == "status" and not any(msg.topic.startswith(t) for t in topics):
                continue
            print(describe(msg), flush=True)
            count += 1
            if (args.until and msg.topic == args.until) or (args.count and count >= args.count):
                print(f"# received {bus.received}, missed {bus.missed}", flush=True)
                return 0


def _control(args):
    fields = {}
    if args.command == "set":
        if len(args.args) != 2:
            print("usage: control set NAME VALUE", file=sys.stderr)
            return 2
        fields = {"name": args.args[0], "value": float(args.args[1])}
    elif args.command == "load":
        if len(args.args) != 2:
            print("usage: control load PROFILE EXPERIMENT", file=sys.stderr)
            return 2
        fields = {"profile": args.args[0], "experiment": args.args[1]}
    elif args.command == "stop" and args.args:
        fields = {"reason": " ".join(args.args)}
    with ControlClient(args.control, token=args.token, server_public_key=args.server_key, timeout_ms=int(args.timeout * 1000)) as client:
        try:
            reply = client.request(args.command, check=False, **fields)
        except TimeoutError as e:
            print(f"error: {e}", file=sys.stderr)
            return 3
    print(json.dumps(reply, indent=2 if args.pretty else None), flush=True)
    return 0 if reply.get("ok") else 1


def _keys(_args):
    public, secret = zmq.curve_keypair()
    print(f"public-key = \"{public.decode('ascii')}\"")
    print(f"secret-key = \"{secret.decode('ascii')}\"")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="ClosedLoop event bus and remote-control client.")
    sub = parser.add_subparsers(dest="mode", required=True)

    w = sub.add_parser("watch", help="subscribe to the event bus and print one line per message")
    w.add_argument("--bus", default="tcp://127.0.0.1:5556", help="publisher endpoint (default %(default)s)")
    w.add_argument("--topics", nargs="*", default=["traces", "event.", "run."], help="topic prefixes (default: traces event. run.; '' = all)")
    w.add_argument("--until", help="exit after a message on this topic (e.g. run.end)")
    w.add_argument("--count", type=int, default=0, help="exit after this many messages")
    w.add_argument("--timeout", type=float, default=10.0, help="exit with status 1 after this many seconds without a message")
    w.add_argument("--server-key", help="the publisher's CURVE public key (Z85), when it uses CURVE")

    c = sub.add_parser("control", help="send one control request and print the reply as JSON")
    c.add_argument("--control", default="tcp://127.0.0.1:5557", help="control endpoint (default %(default)s)")
    c.add_argument("--token", help="token, when the server requires one")
    c.add_argument("--server-key", help="the server's CURVE public key (Z85), when it uses CURVE")
    c.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the reply")
    c.add_argument("--pretty", action="store_true", help="indent the JSON")
    c.add_argument("command", choices=["ping", "status", "parameters", "start", "stop", "set", "load"])
    c.add_argument("args", nargs="*", help="set: NAME VALUE; load: PROFILE EXPERIMENT; stop: REASON")

    sub.add_parser("keys", help="print a new CURVE key pair")

    args = parser.parse_args(argv)
    return {"watch": _watch, "control": _control, "keys": _keys}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
