"""Node lists and per-node options, checked against the examples in Celery's multi docs."""

from __future__ import annotations

import socket

import pytest

from celeriac.multi.nodes import expand, nodes_from_argv, parse_options

HOST = socket.gethostname()


def worker_args(argv: list[str]) -> dict[str, list[str]]:
    """Node name -> the worker options after ``--detach ... --logfile=...``."""
    found = {}
    for node in nodes_from_argv(argv):
        args = node.argv
        start = args.index("worker") + 4  # worker --detach --pidfile=.. --logfile=..
        end = args.index("-n")
        found[node.name] = args[start:end]
    return found


def test_count_form_names_nodes_celery1_to_n() -> None:
    assert list(worker_args(["3", "-c", "3"])) == [f"celery{i}@{HOST}" for i in (1, 2, 3)]


def test_range_prefix_and_hostname() -> None:
    names = list(worker_args(["2", "--range-prefix=worker", "--hostname=w.example.com"]))
    assert names == ["worker1@w.example.com", "worker2@w.example.com"]


def test_named_and_fully_qualified_nodes() -> None:
    assert list(worker_args(["image", "video"])) == [f"image@{HOST}", f"video@{HOST}"]
    assert list(worker_args(["foo@a.example.com", "bar@%h"])) == [
        "foo@a.example.com",
        f"bar@{HOST}",
    ]


def test_options_by_index_range_list_and_name() -> None:
    assert worker_args(["3", "-c", "3", "-c:1", "10"]) == {
        f"celery1@{HOST}": ["-c", "10"],
        f"celery2@{HOST}": ["-c", "3"],
        f"celery3@{HOST}": ["-c", "3"],
    }
    five = worker_args(["5", "-c", "3", "-c:1-3", "10"])
    assert [v for v in five.values()] == [["-c", "10"]] * 3 + [["-c", "3"]] * 2
    named = worker_args(["foo", "bar", "baz", "xuzzy", "-c", "3", "-c:foo,bar,baz", "10"])
    assert list(named.values()) == [["-c", "10"]] * 3 + [["-c", "3"]]
    assert worker_args(["image", "video", "-c", "3", "-c:image", "10"])[f"image@{HOST}"] == [
        "-c",
        "10",
    ]
    assert worker_args(["a", "b", "-c:2", "7"])[f"b@{HOST}"] == ["-c", "7"]


def test_the_guides_ten_node_example() -> None:
    argv = [
        "10",
        "-A",
        "proj",
        "-l",
        "INFO",
        "-Q:1-3",
        "images,video",
        "-Q:4,5",
        "data",
        "-Q",
        "default",
        "-L:4,5",
        "debug",
    ]
    nodes = {node.name: node for node in nodes_from_argv(argv)}
    assert len(nodes) == 10
    first, fourth, tenth = (nodes[f"celery{i}@{HOST}"].argv for i in (1, 4, 10))
    assert first[first.index("-Q") + 1] == "images,video"
    assert fourth[fourth.index("-Q") + 1] == "data" and "debug" in fourth
    assert tenth[tenth.index("-Q") + 1] == "default"
    assert tenth[tenth.index("-l") + 1] == "INFO"
    assert first[3:5] == ["-A", "proj"]  # globals go before 'worker'
    assert first.index("-A") < first.index("worker")


def test_pid_and_log_files_default_and_expand() -> None:
    [node] = list(nodes_from_argv(["w1"]))
    assert node.pidfile == "/var/run/celeriac/w1.pid"
    assert node.logfile == "/var/log/celeriac/w1%I.log"
    [node] = list(nodes_from_argv(["w1", "--pidfile=/tmp/x/%n.pid", "--logfile=/tmp/x/%p.log"]))
    assert node.pidfile == "/tmp/x/w1.pid" and node.logfile == f"/tmp/x/w1@{HOST}.log"


def test_passthrough_after_double_dash() -> None:
    [node] = list(nodes_from_argv(["w1", "--", "--custom", "x"]))
    assert node.argv[-2:] == ["--custom", "x"]


def test_expand_leaves_pool_process_letters_for_the_worker() -> None:
    assert expand("%n-%h-%d-%i-%I-%%", "w1@box.example.com") == (
        "w1-w1@box.example.com-box.example.com-%i-%I-%"
    )


def test_bad_index_is_an_error() -> None:
    with pytest.raises(ValueError, match="index 3"):
        list(nodes_from_argv(["a", "b", "-c:3", "1"]))


def test_parse_options_splits_values_options_and_namespaces() -> None:
    parsed = parse_options(["w1", "w2", "-c", "3", "--pool=solo", "-c:w1", "9", "-D"])
    assert parsed.values == ["w1", "w2"]
    assert parsed.options == {"-c": "3", "--pool": "solo", "-D": None}
    assert parsed.namespaces == {"w1": {"-c": "9"}}
